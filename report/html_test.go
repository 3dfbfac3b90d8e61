package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/verify"
)

func TestWriteHTML(t *testing.T) {
	sample := func(at time.Duration, nr uint32) verify.MonitorSample {
		return verify.MonitorSample{At: at, CPUs: []verify.CPUSample{{NrRunning: nr, LocalDSQ: nr / 2}, {NrRunning: 1}}}
	}
	ok := rec("TestDemo/eevdf", "eevdf", true, 2, 1e6)
	ok.Result.Cgroups[0].PerWorker = []verify.WorkerStats{{OffCPUPct: 10, WakeNs: []int64{1000, 2000, 5000}}, {OffCPUPct: 12, WakeNs: []int64{1500}}}
	bad := rec("TestDemo/scx_simple", "scx_simple", false, 30, 1e6)
	bad.Result.Cgroups[0].PerWorker = []verify.WorkerStats{{OffCPUPct: 5}, {OffCPUPct: 35}}
	bad.Kind, bad.Failure, bad.Log = "check-failed", "FAIL: 1 check(s) failed\n[spread] <script>x</script>", []string{"guest: the line that explains it"}
	bad.Samples = &verify.MonitorSeries{Interval: 100 * time.Millisecond, HasScx: true, SchedExt: true,
		Samples: []verify.MonitorSample{sample(0, 1), sample(100*time.Millisecond, 6), sample(200*time.Millisecond, 2)}}
	bad.Monitor = &verify.Result{Failures: []verify.Failure{{Check: "imbalance", Window: bad.Samples.Samples[1:2]}}}
	var b bytes.Buffer
	if err := WriteHTML(&b, []Record{ok, bad}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{
		"<h2>TestDemo</h2>", `<tr class="FAIL">`, `href="#log-1"`, `id="log-1"`, "the line that explains it",
		"Off-CPU share per worker", "Fairness spread", "Longest scheduling gap", "Migrations per cgroup",
		"Wake latency distribution", "Monitor: nr_running per CPU", "Monitor: local DSQ depth", `class="violation"`,
		`<polyline class="line"`, `<rect class="bar"`, "&lt;script&gt;",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("HTML lacks %q", w)
		}
	}
	// Self-contained: nothing to fetch, nothing to run.
	for _, bad := range []string{"<script", "http://", "https://", "src="} {
		if strings.Contains(strings.ReplaceAll(out, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("HTML has %q", bad)
		}
	}
	if got := niceCeil(0.37); got != 0.5 {
		t.Errorf("niceCeil(0.37) = %v", got)
	}
}
