package ktstr_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/report"
)

// smallVariants are the variants of the helper's gauntlet-small mode.
var smallVariants = []string{"tiny-1llc/default", "tiny-1llc/verbose", "tiny-2llc/default", "tiny-2llc/verbose"}

// TestGauntletSmall runs a small gauntlet (two presets × two profiles of
// the fixture scheduler, in parallel within the VM slots) and checks every
// variant ran, in its own topology, the others were skipped saying why,
// and every run left a record.
func TestGauntletSmall(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	results := t.TempDir()
	start := time.Now()
	h := startHelper(t, "gauntlet-small", nil, "KTSTR_GAUNTLET=1", "KTSTR_RESULTS_DIR="+results)
	code, out := h.wait(15 * time.Minute)
	t.Logf("small gauntlet: %s", time.Since(start).Round(100*time.Millisecond))
	if code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out)
	}
	const base = "TestHelperFailure/gauntlet-small/"
	for _, v := range smallVariants {
		if !strings.Contains(out, "--- PASS: "+base+"gauntlet/"+v+" ") {
			t.Errorf("variant %s did not pass; output:\n%s", v, out)
		}
	}
	for _, want := range []string{"--- PASS: " + base + "plain ", "--- SKIP: " + base + "gauntlet/odd-3llc/default", "constraints: 3 LLCs > MaxLLCs 2",
		"on 1n2l2c1t", "on 1n1l4c1t", "gauntlet of " + base[:len(base)-1] + ": 48 variant(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	h.checkNothingLeft()
	recs, err := report.Read(results)
	if err != nil || len(recs) != 5 {
		t.Fatalf("records: %d, %v; want the plain case and 4 variants", len(recs), err)
	}
	for _, r := range recs {
		if !r.Passed {
			t.Errorf("%s failed: %s", r.Test, r.Failure)
		}
	}
	m, err := report.Merge(results)
	if err != nil || len(m.Missing) != 0 || len(m.Expected) != 5 {
		t.Errorf("merge of one directory: expected %v, missing %v, %v", m.Expected, m.Missing, err)
	}
}

// TestGauntletShards runs the small gauntlet as three shards, as three
// machines would, and merges them: together they ran every variant once,
// and without one shard's directory the merge names exactly that shard's
// runs as missing.
func TestGauntletShards(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	var dirs []string
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		dirs = append(dirs, dir)
		h := startHelper(t, "gauntlet-small", nil, "KTSTR_GAUNTLET=1", "KTSTR_SHARD="+string(rune('0'+i))+"/3", "KTSTR_RESULTS_DIR="+dir)
		if code, out := h.wait(15 * time.Minute); code != 0 {
			t.Fatalf("shard %d/3: exit code %d; output:\n%s", i, code, out)
		}
		h.checkNothingLeft()
	}
	m, err := report.Merge(dirs...)
	if err != nil || len(m.Expected) != 5 || len(m.Missing) != 0 || len(m.Duplicates) != 0 || len(m.Records) != 5 {
		t.Fatalf("merge of 3 shards: %d records, expected %v, missing %v, duplicates %v, %v", len(m.Records), m.Expected, m.Missing, m.Duplicates, err)
	}
	lost, err := report.Read(dirs[2])
	var want []string
	for _, r := range lost {
		want = append(want, r.Test)
	}
	m, _ = report.Merge(dirs[:2]...)
	if strings.Join(m.Missing, ",") != strings.Join(want, ",") {
		t.Errorf("merge without shard 2: missing %v, want shard 2's runs %v (%v)", m.Missing, want, err)
	}
}

// The Kubernetes Indexed Job in docs/k8s: a well-formed Job whose shard
// count, image and script agree, and whose script runs the right shard.
func TestKubernetesManifest(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	type container struct {
		Image   string   `json:"image"`
		Command []string `json:"command"`
		Env     []struct{ Name, Value string }
		Volume  []struct {
			Name      string `json:"name"`
			MountPath string `json:"mountPath"`
		} `json:"volumeMounts"`
	}
	type object struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct{ Name string }
		Spec       struct {
			CompletionMode string `json:"completionMode"`
			Completions    *int   `json:"completions"`
			Parallelism    *int   `json:"parallelism"`
			Template       struct {
				Spec struct {
					RestartPolicy string      `json:"restartPolicy"`
					Containers    []container `json:"containers"`
				}
			}
		}
	}
	read := func(name string) []object {
		raw, err := os.ReadFile(filepath.Join("docs", "k8s", name))
		if err != nil {
			t.Fatal(err)
		}
		var out []object
		for _, doc := range regexp.MustCompile(`(?m)^---$`).Split(string(raw), -1) {
			var o object
			if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out = append(out, o)
		}
		return out
	}
	objs := read("gauntlet-job.yaml")
	var job *object
	for i := range objs {
		if objs[i].Kind == "Job" {
			job = &objs[i]
		}
	}
	if job == nil || job.APIVersion != "batch/v1" || job.Spec.CompletionMode != "Indexed" || job.Spec.Completions == nil ||
		job.Spec.Parallelism == nil || *job.Spec.Parallelism != *job.Spec.Completions || job.Spec.Template.Spec.RestartPolicy != "Never" {
		t.Fatalf("gauntlet-job.yaml: not an Indexed Job with parallelism = completions: %+v", job)
	}
	c := job.Spec.Template.Spec.Containers[0]
	shards := ""
	for _, e := range c.Env {
		if e.Name == "KTSTR_SHARDS" {
			shards = e.Value
		}
	}
	if shards == "" || shards != strconv.Itoa(*job.Spec.Completions) {
		t.Errorf("KTSTR_SHARDS %q, completions %d: they must agree", shards, *job.Spec.Completions)
	}
	if len(c.Command) != 1 || c.Command[0] != "/src/ktstr/docs/k8s/run-shard.sh" || c.Image == "" {
		t.Errorf("container: %+v", c)
	}
	merge := read("merge-job.yaml")
	if len(merge) != 1 || merge[0].Kind != "Job" || !strings.Contains(strings.Join(merge[0].Spec.Template.Spec.Containers[0].Command, " "), "ktstr report merge") {
		t.Errorf("merge-job.yaml: %+v", merge)
	}
	docker, err := os.ReadFile(filepath.Join("docs", "k8s", "Dockerfile"))
	if err != nil || !strings.Contains(string(docker), "scripts/setup.sh") || !strings.Contains(string(docker), "FROM debian:12") {
		t.Errorf("Dockerfile: %v\n%s", err, docker)
	}
	// The pod's script, with a stand-in go that records what it was given.
	bin, root := t.TempDir(), t.TempDir()
	fakeGo := "#!/bin/sh\necho \"go $* shard=$KTSTR_SHARDS index=$JOB_COMPLETION_INDEX gauntlet=$KTSTR_GAUNTLET dir=$KTSTR_RESULTS_DIR\"\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(fakeGo), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", filepath.Join("docs", "k8s", "run-shard.sh"))
	wd, _ := os.Getwd()
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "JOB_COMPLETION_INDEX=2", "KTSTR_SHARDS="+shards,
		"KTSTR_RESULTS_ROOT="+root, "KTSTR_SRC="+wd)
	out, err := cmd.CombinedOutput()
	want := "go test -p 1 -timeout 600m ./... shard=" + shards + " index=2 gauntlet=1 dir=" + root + "/shard-2"
	if err != nil || !strings.Contains(string(out), want) {
		t.Errorf("run-shard.sh: %v\n%s\nwant %q", err, out, want)
	}
	if _, err := os.Stat(filepath.Join(root, "shard-2", "go-test.log")); err != nil {
		t.Errorf("run-shard.sh left no log: %v", err)
	}
	cmd.Env = append(os.Environ(), "PATH="+bin+":/usr/bin:/bin", "KTSTR_SHARDS=4")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("run-shard.sh outside an Indexed Job succeeded:\n%s", out)
	}
}

// TestGauntletKernels: with two kernels in KTSTR_KERNEL (the cached one and
// a copy of its image elsewhere, which counts as another), the kernel is a
// dimension of the variant names and each variant boots its own.
func TestGauntletKernels(t *testing.T) {
	if ktstr.InGuest() {
		t.Skip("host-only")
	}
	ktstr.RequireVM(t)
	first := ktstr.KernelImage(t)
	copyPath := filepath.Join(t.TempDir(), "bzImage")
	raw, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, "gauntlet-kernels", nil, "KTSTR_GAUNTLET=1", "KTSTR_KERNEL="+first+","+copyPath)
	code, out := h.wait(10 * time.Minute)
	if code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out)
	}
	passed := regexp.MustCompile(`--- PASS: TestHelperFailure/gauntlet-kernels/gauntlet/tiny-1llc/default/(\S+) `).FindAllStringSubmatch(out, -1)
	if len(passed) != 2 || passed[0][1] == passed[1][1] {
		t.Fatalf("want two passing kernel variants of tiny-1llc/default, got %v; output:\n%s", passed, out)
	}
	if n := strings.Count(out, "guest: kernel: Linux version"); n != 3 {
		t.Errorf("%d guests reported their kernel, want 3 (the plain case and two variants)", n)
	}
	h.checkNothingLeft()
}
