// Package report records test outcomes for machines and summarizes them
// for people. Each VM run can be written as one JSON file (see Write; the
// root package does it when $KTSTR_RESULTS_DIR is set, and into the test's
// artifact directory with go test -artifacts), and Summarize reads a
// directory of them back into a table (`ktstr report DIR`).
package report

import (
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/ktstr-go/ktstr/verdict"
	"github.com/ktstr-go/ktstr/verify"
	"github.com/ktstr-go/ktstr/vm"
)

// Record is the outcome of one VM run.
type Record struct {
	// Package is the import path of the test's package; Test its
	// testing.T name. Iteration counts go test -count repeats of the test
	// from 0, Occurrence the ktstr.Run calls within one test, Replica the
	// replicas of one call.
	Package    string `json:"package,omitempty"`
	Test       string `json:"test"`
	Iteration  int    `json:"iteration"`
	Occurrence int    `json:"occurrence"`
	Replica    int    `json:"replica"`

	Topology  string `json:"topology"`
	Scheduler string `json:"scheduler"`
	Profile   string `json:"profile,omitempty"`
	Accel     string `json:"accel"`
	// Kernel is the kernel booted: its release and cache key ("" outside
	// the cache).
	Kernel    string `json:"kernel,omitempty"`
	KernelKey string `json:"kernel_key,omitempty"`
	// Watchdog is the sched_ext watchdog the kernel applied, or the note
	// saying why none was; KernelWatchdog what the host read in the guest
	// kernel's memory (scx_watchdog_timeout) while the test ran.
	Watchdog       string        `json:"watchdog,omitempty"`
	KernelWatchdog time.Duration `json:"kernel_watchdog_ns,omitempty"`

	// Passed is the test's verdict (ExpectErr already applied). Kind and
	// Failure say how the run failed, if it did; Checks are the failed
	// check ids; Expected describes what ExpectErr expected.
	Passed    bool          `json:"passed"`
	ExpectErr bool          `json:"expect_err,omitempty"`
	Expected  string        `json:"expected,omitempty"`
	Kind      verdict.Kind  `json:"kind,omitempty"`
	Failure   string        `json:"failure,omitempty"`
	Checks    []string      `json:"checks,omitempty"`
	Exit      *verdict.Exit `json:"exit,omitempty"`
	// Result is what the test function's checks returned, when it returned.
	Result *verify.Result `json:"result,omitempty"`
	// Monitor is the verdict of the host-side monitor's checks, Samples
	// everything it sampled (per CPU, every interval), MonitorNotes what
	// it could not check and why.
	Monitor      *verify.Result        `json:"monitor,omitempty"`
	Samples      *verify.MonitorSeries `json:"samples,omitempty"`
	MonitorNotes []string              `json:"monitor_notes,omitempty"`
	// KernelNotes are what the guest kernel said that the harness reports
	// whatever the verdict (it resumed after a stale INT3 of emulation).
	KernelNotes []string `json:"kernel_notes,omitempty"`
	// SchedulerSHA256 identifies the scheduler binary's version (sha256 of
	// the host file); Host is the machine the run was on.
	SchedulerSHA256 string `json:"scheduler_sha256,omitempty"`
	Host            *Host  `json:"host,omitempty"`
	// Log is a failed run's whole guest log: the lines that explain the
	// failure, then the log the guest sent.
	Log []string `json:"log,omitempty"`
	// Performance is what performance mode got, read back while the VM
	// ran: each vCPU thread's CPU and policy, the memory, what the host
	// could not give (nil without performance mode).
	Performance *vm.Pinned `json:"performance,omitempty"`
	// AutoRepro is what the automatic rerun with probes found, events and
	// all (nil when there was none).
	AutoRepro *verdict.AutoRepro `json:"auto_repro,omitempty"`
	// BootToFn is from Run starting to the test function starting in the
	// guest; Total to QEMU exiting.
	BootToFn time.Duration `json:"boot_to_fn_ns"`
	Total    time.Duration `json:"total_ns"`
	Start    time.Time     `json:"start"`
}

// Host is the machine a run was on.
type Host struct {
	Name  string `json:"name"`
	CPUs  int    `json:"cpus"`
	Model string `json:"model,omitempty"`
}

// FileName is the file Write uses for r: the test name made safe for a
// file name, then a hash of everything that identifies the run (package,
// test, iteration, occurrence, replica), so that no two runs share a file
// however their names are spelled.
func (r Record) FileName() string {
	id := fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00%d", r.Package, r.Test, r.Iteration, r.Occurrence, r.Replica)
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%s.i%d.r%d.%s.json", safeName(r.Test), r.Iteration, r.Replica, hex.EncodeToString(sum[:6]))
}

// safeName is name with everything but letters, digits, '-' and '.' as
// '_', cut to 100 bytes.
func safeName(name string) string {
	s := strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
			return c
		}
		return '_'
	}, name)
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// Write writes r as indented JSON into dir, creating dir if needed, through
// a temporary file renamed into place.
func Write(dir string, r Record) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return writeAtomic(dir, r.FileName(), append(raw, '\n'))
}

// writeAtomic writes data to dir/name through a temporary file.
func writeAtomic(dir, name string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	f, err := os.CreateTemp(dir, ".record-*.tmp")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// Read reads every record in dir (not the gauntlet manifests), ordered by
// package, test name, iteration, occurrence and replica.
func Read(dir string) ([]Record, error) {
	recs, _, err := readDir(dir)
	if len(recs) == 0 && err == nil {
		return nil, fmt.Errorf("no result files (*.json) in %s", dir)
	}
	sortRecords(recs)
	return recs, err
}

func sortRecords(out []Record) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Package != b.Package {
			return a.Package < b.Package
		}
		if a.Test != b.Test {
			return a.Test < b.Test
		}
		if a.Iteration != b.Iteration {
			return a.Iteration < b.Iteration
		}
		if a.Occurrence != b.Occurrence {
			return a.Occurrence < b.Occurrence
		}
		return a.Replica < b.Replica
	})
}

// Summarize writes a table of the records: verdict, failure kind, test,
// topology, scheduler and profile, times, and the first line of the
// failure.
func Summarize(w io.Writer, recs []Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tKIND\tTEST\tTOPOLOGY\tSCHEDULER\tBOOT→FN\tTOTAL\tWHY")
	pass := 0
	for _, r := range recs {
		verdict := "FAIL"
		if r.Passed {
			verdict = "PASS"
			pass++
		}
		kind := string(r.Kind)
		if kind == "" {
			kind = "-"
		}
		sched := r.Scheduler
		if r.Profile != "" && r.Profile != "default" {
			sched += " [" + r.Profile + "]"
		}
		test := r.Test
		if r.Iteration > 0 {
			test += fmt.Sprintf(" #%d", r.Iteration+1)
		}
		why := firstUseful(r.Failure)
		if r.Passed && r.ExpectErr {
			why = "failed as expected: " + why
		}
		if a := r.AutoRepro; a != nil {
			if a.Reproduced {
				why = "[auto-repro: reproduced] " + why
			} else {
				why = "[auto-repro: not reproduced] " + why
			}
		}
		if len(why) > 100 {
			why = why[:97] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1fs\t%.1fs\t%s\n", verdict, kind, test, r.Topology, sched,
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
		if i == 0 && strings.HasPrefix(l, "FAIL:") && len(lines) > 1 {
			continue
		}
		if t := strings.TrimSpace(l); t != "" {
			return t
		}
	}
	return ""
}
