package ktstr_test

import (
	"bytes"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/report"
	"github.com/ktstr-go/ktstr/workload"
)

// htmlWorkload is the demo's workload: two spinning cgroups and a pipe
// pair, which wakes.
func htmlWorkload(ctx *ktstr.Ctx) (ktstr.AssertResult, error) {
	return ktstr.ExecuteDefs(ctx,
		ktstr.CgroupDef{Name: "cg_0", Workers: 2},
		ktstr.CgroupDef{Name: "pipes", Workers: 2, Work: workload.PipeIo()})
}

// TestHTMLReportInBrowser renders the HTML report of real records (a short
// run under EEVDF and one under the fixture) in headless Chromium: the
// screenshot must not be blank, and the DOM Chromium built must hold the
// charts' SVG elements.
func TestHTMLReportInBrowser(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("chromium not installed (scripts/setup.sh installs it)")
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}
	results := t.TempDir()
	var recs []report.Record
	for _, mode := range []string{"html-eevdf", "html-fixture"} {
		dir := filepath.Join(results, mode)
		// A run may fail its checks (2 s under TCG is short for the
		// spread limit): the report shows failures too. It needs records
		// with statistics.
		h := startHelper(t, mode, nil, "KTSTR_RESULTS_DIR="+dir)
		_, out := h.wait(10 * time.Minute)
		r, err := report.Read(dir)
		if err != nil || len(r) != 1 || r[0].Result == nil || len(r[0].Result.Cgroups) != 2 {
			t.Fatalf("%s: records %v, %v; want one with two cgroups' statistics; output:\n%s", mode, len(r), err, out)
		}
		recs = append(recs, r...)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	var b bytes.Buffer
	if err := report.WriteHTML(&b, recs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,2400"}
	if out, err := exec.Command(chromium, append(args, "--screenshot="+shot, "file://"+page)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	colors, ink := map[[3]uint32]bool{}, 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint32{r >> 8, g >> 8, bl >> 8}] = true
			if r>>8 < 200 || g>>8 < 200 || bl>>8 < 200 {
				ink++
			}
		}
	}
	total := bounds.Dx() * bounds.Dy() / 4
	if len(colors) < 8 || ink < total/200 {
		t.Errorf("screenshot %dx%d looks blank: %d colors, %d of %d sampled pixels inked", bounds.Dx(), bounds.Dy(), len(colors), ink, total)
	}
	dom, err := exec.Command(chromium, append(args, "--dump-dom", "file://"+page)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	d := string(dom)
	for what, min := range map[string]int{`<svg`: 6, `<polyline class="line"`: 3, `<rect class="bar"`: 8, `<td class="res">`: 2} {
		if n := strings.Count(d, what); n < min {
			t.Errorf("the DOM has %d %s, want at least %d", n, what, min)
		}
	}
	t.Logf("screenshot %dx%d, %d colors, %.1f%% of sampled pixels inked; DOM: %d svg, %d polylines, %d bars",
		bounds.Dx(), bounds.Dy(), len(colors), 100*float64(ink)/float64(total), strings.Count(d, "<svg"), strings.Count(d, "<polyline"), strings.Count(d, `<rect class="bar"`))
	if dir := os.Getenv("KTSTR_KEEP_REPORT"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "report.html"), b.Bytes(), 0o644)
		raw, _ := os.ReadFile(shot)
		_ = os.WriteFile(filepath.Join(dir, "report.png"), raw, 0o644)
	}
}
