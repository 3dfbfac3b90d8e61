package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ktstr-go/ktstr/verdict"
	"github.com/ktstr-go/ktstr/verify"
)

func TestWriteReadSummarize(t *testing.T) {
	dir := t.TempDir()
	res := verify.Fail("3 > 2")
	recs := []Record{
		{Test: "TestB/sub", Replica: 1, Topology: "1n1l2c1t", Scheduler: "fixture", Profile: "llc", Accel: "tcg",
			Kind: verdict.SchedulerEjected, Failure: "scheduler fixture failed during the test\nmore", Result: &res, BootToFn: 2 * time.Second, Total: 5 * time.Second},
		{Test: "TestA", Topology: "1n2l2c1t", Scheduler: "eevdf", Accel: "tcg", Passed: true, BootToFn: time.Second, Total: 3 * time.Second},
	}
	for _, r := range recs {
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Record{recs[1], recs[0]}, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	var b bytes.Buffer
	if err := Summarize(&b, got); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"PASS    -                  TestA ", "FAIL    scheduler-ejected  TestB/sub ", "fixture [llc]", "scheduler fixture failed during the test", "1 of 2 passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "more") {
		t.Errorf("summary shows more than the first line of the failure:\n%s", out)
	}
	for in, want := range map[string]string{
		"FAIL: 1 check(s) failed\n  [spread] cgroup x: spread 80%\n  note": "[spread] cgroup x: spread 80%",
		"scheduler died\nlog": "scheduler died",
	} {
		if got := firstUseful(in); got != want {
			t.Errorf("firstUseful(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := Read(t.TempDir()); err == nil {
		t.Error("empty dir: want an error")
	}
}

// Runs whose names differ only in spelling, the same test in two packages,
// and go test -count repeats each get their own file: before, T/a/b and
// T/a__b (and every repeat) shared one, so a FAIL could be overwritten by
// a PASS.
func TestFileNamesUnique(t *testing.T) {
	recs := []Record{
		{Package: "m/p", Test: "T/a/b"}, {Package: "m/p", Test: "T/a__b"}, {Package: "m/q", Test: "T/a/b"},
		{Package: "m/p", Test: "T/a/b", Iteration: 1}, {Package: "m/p", Test: "T/a/b", Occurrence: 1},
		{Package: "m/p", Test: "T/a/b", Replica: 1}, {Package: "m/p", Test: "T/a b"}, {Package: "m/p", Test: "T/a_b"},
	}
	dir := t.TempDir()
	seen := map[string]bool{}
	for _, r := range recs {
		n := r.FileName()
		if seen[n] {
			t.Errorf("%+v: file name %s already used", r, n)
		}
		seen[n] = true
		if strings.ContainsAny(n, "/ ") {
			t.Errorf("file name %q has a separator or space", n)
		}
		if err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(dir)
	if err != nil || len(got) != len(recs) {
		t.Fatalf("Read: %d records, %v; want %d", len(got), err, len(recs))
	}
}

// Merging shards: every planned run with a record is present, the ones
// whose shard wrote nothing are missing, and manifests are not records.
func TestMerge(t *testing.T) {
	entries := func(runs ...bool) []ManifestEntry {
		var out []ManifestEntry
		for i, r := range runs {
			out = append(out, ManifestEntry{Name: fmt.Sprintf("T/gauntlet/p%d/default", i), Runs: r, Elsewhere: !r})
		}
		return out
	}
	a, b := t.TempDir(), t.TempDir()
	// Shard 0 of 2 runs p0 and p2 and the plain case; shard 1 runs p1 and
	// p3, but only p1 left a record.
	if err := WriteManifest(a, Manifest{Test: "T", Shard: "0/2", Plain: ManifestEntry{Name: "T/plain", Runs: true}, Variants: entries(true, false, true, false)}); err != nil {
		t.Fatal(err)
	}
	if err := WriteManifest(b, Manifest{Test: "T", Shard: "1/2", Plain: ManifestEntry{Name: "T/plain", Elsewhere: true}, Variants: entries(false, true, false, true)}); err != nil {
		t.Fatal(err)
	}
	for dir, names := range map[string][]string{a: {"T/plain", "T/gauntlet/p0/default", "T/gauntlet/p2/default"}, b: {"T/gauntlet/p1/default"}} {
		for _, n := range names {
			if err := Write(dir, Record{Test: n, Passed: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := Merge(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Records) != 4 || len(m.Expected) != 5 || len(m.Missing) != 1 || m.Missing[0] != "T/gauntlet/p3/default" {
		t.Fatalf("merged: %d records, expected %v, missing %v", len(m.Records), m.Expected, m.Missing)
	}
	var out bytes.Buffer
	if err := SummarizeMerged(&out, m); err != nil || !strings.Contains(out.String(), "missing: T/gauntlet/p3/default") || !strings.Contains(out.String(), "5 planned run(s), 1 missing") {
		t.Errorf("summary (%v):\n%s", err, out.String())
	}
	// Read skips manifests.
	if recs, err := Read(a); err != nil || len(recs) != 3 {
		t.Errorf("Read = %d records, %v", len(recs), err)
	}
}
