package verdict_test

import (
	"errors"
	"fmt"

	"github.com/ktstr-go/ktstr/verdict"
)

// A failure unwraps to its kind: branch with errors.Is, read the evidence
// with errors.As.
func Example() {
	err := fmt.Errorf("replica 1: %w", &verdict.Failure{
		Kind:    verdict.SchedulerEjected,
		Summary: "scheduler fixture failed during the test",
		Exit:    &verdict.Exit{Reason: "runnable task stall", Message: "stress[81] failed to run for 4.512s"},
	})
	var f *verdict.Failure
	if errors.Is(err, verdict.SchedulerEjected) && errors.As(err, &f) {
		fmt.Println(f.Kind.Party(), "-", f.Exit)
	}
	// Output: scheduler - runnable task stall: stress[81] failed to run for 4.512s
}

// What ExpectErr accepts: by default any verdict about the system under
// test, never a kernel panic, a hang or a harness error unless named.
func ExampleExpect_Match() {
	panicked := verdict.New(verdict.KernelPanic, "guest kernel panic")
	spread := &verdict.Failure{Kind: verdict.CheckFailed, Summary: "FAIL", Checks: []string{"spread"}}
	fmt.Println(verdict.Expect{}.Match(spread), verdict.Expect{}.Match(panicked))
	fmt.Println(verdict.Expect{Check: "gap"}.Match(spread), verdict.Expect{Kind: verdict.KernelPanic}.Match(panicked))
	// Output:
	// true false
	// false true
}
