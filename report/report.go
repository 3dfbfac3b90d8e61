// Package report records test outcomes for machines and summarizes them
// for people. Each VM run can be written as one JSON file (see Write; the
// root package does it when $KTSTR_RESULTS_DIR is set), and Summarize reads
// a directory of them back into a table (`ktstr report DIR`).
package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ktstr-go/ktstr/verify"
)

// Record is the outcome of one VM run.
type Record struct {
	Test      string `json:"test"`
	Replica   int    `json:"replica"`
	Topology  string `json:"topology"`
	Scheduler string `json:"scheduler"`
	Profile   string `json:"profile,omitempty"`
	Accel     string `json:"accel"`
	// Passed is the test's verdict (ExpectErr already applied); Failure
	// says why the run failed, if it did.
	Passed    bool   `json:"passed"`
	ExpectErr bool   `json:"expect_err,omitempty"`
	Failure   string `json:"failure,omitempty"`
	// Result is what the test function's checks returned, when it returned.
	Result *verify.Result `json:"result,omitempty"`
	// BootToFn is from Run starting to the test function starting in the
	// guest; Total to QEMU exiting.
	BootToFn time.Duration `json:"boot_to_fn_ns"`
	Total    time.Duration `json:"total_ns"`
	Start    time.Time     `json:"start"`
}

// FileName is the file Write uses for r: the test name with path
// separators replaced, and the replica.
func (r Record) FileName() string {
	name := strings.NewReplacer("/", "__", " ", "_").Replace(r.Test)
	return fmt.Sprintf("%s.r%d.json", name, r.Replica)
}

// Write writes r as indented JSON into dir, creating dir if needed.
func Write(dir string, r Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	tmp := filepath.Join(dir, "."+r.FileName()+".tmp")
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, r.FileName()))
}

// Read reads every record in dir, ordered by test name and replica.
func Read(dir string) ([]Record, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no result files (*.json) in %s", dir)
	}
	var out []Record
	var errs []error
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Test != out[j].Test {
			return out[i].Test < out[j].Test
		}
		return out[i].Replica < out[j].Replica
	})
	return out, errors.Join(errs...)
}

// Summarize writes a table of the records: verdict, test, topology,
// scheduler and profile, times, and the first failure.
func Summarize(w io.Writer, recs []Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tTEST\tTOPOLOGY\tSCHEDULER\tBOOT→FN\tTOTAL\tWHY")
	pass := 0
	for _, r := range recs {
		verdict := "FAIL"
		if r.Passed {
			verdict = "PASS"
			pass++
		}
		sched := r.Scheduler
		if r.Profile != "" && r.Profile != "default" {
			sched += " [" + r.Profile + "]"
		}
		why := r.Failure
		if r.Passed && r.ExpectErr {
			why = "failed as expected: " + why
		}
		why = firstUseful(why)
		if len(why) > 100 {
			why = why[:97] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1fs\t%.1fs\t%s\n", verdict, r.Test, r.Topology, sched,
			r.BootToFn.Seconds(), r.Total.Seconds(), why)
	}
	fmt.Fprintf(tw, "\n%d of %d passed\n", pass, len(recs))
	return tw.Flush()
}

// firstUseful returns the first line of a failure that says what failed:
// for failed checks the first check rather than the "FAIL: n check(s)"
// header.
func firstUseful(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if i == 0 && strings.HasPrefix(strings.TrimPrefix(l, "failed as expected: "), "FAIL:") && len(lines) > 1 {
			continue
		}
		if t := strings.TrimSpace(l); t != "" {
			if i > 0 && strings.HasPrefix(lines[0], "failed as expected: ") {
				return "failed as expected: " + t
			}
			return t
		}
	}
	return ""
}
