package verify

import (
	"fmt"
	"strings"
)

// Result is the outcome of a test's checks: pass, or the list of failed
// checks with what was measured.
type Result struct {
	Passed   bool      `json:"passed"`
	Failures []Failure `json:"failures,omitempty"`
	// Notes are informational lines shown with the result.
	Notes []string `json:"notes,omitempty"`
}

// Failure is one failed check.
type Failure struct {
	Check   string  `json:"check"`
	Message string  `json:"message"`
	Value   float64 `json:"value,omitempty"`
	Limit   float64 `json:"limit,omitempty"`
	Cgroup  string  `json:"cgroup,omitempty"`
	Worker  int     `json:"worker,omitempty"`
}

// Pass returns a passing result.
func Pass() Result { return Result{Passed: true} }

// Fail returns a failing result with one failure of check "custom".
func Fail(format string, args ...any) Result {
	return Result{Failures: []Failure{{Check: "custom", Message: fmt.Sprintf(format, args...)}}}
}

// Merge combines results: it passes only if both do.
func (r Result) Merge(o Result) Result {
	return Result{
		Passed:   r.Passed && o.Passed,
		Failures: append(append([]Failure(nil), r.Failures...), o.Failures...),
		Notes:    append(append([]string(nil), r.Notes...), o.Notes...),
	}
}

// String formats the result for a person.
func (r Result) String() string {
	var b strings.Builder
	if r.Passed {
		b.WriteString("PASS")
	} else {
		fmt.Fprintf(&b, "FAIL: %d check(s) failed", len(r.Failures))
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "\n  [%s] %s", f.Check, f.Message)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n  note: %s", n)
	}
	return b.String()
}
