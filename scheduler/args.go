package scheduler

import (
	"fmt"
	"strings"
)

// Args returns the scheduler's command line arguments, in this order: the
// config file (--config configPath, when the scheduler has one), SchedArgs,
// the test's extra arguments, then the profile's flag arguments.
func (s *Scheduler) Args(configPath string, extra []string, p Profile) []string {
	var args []string
	if s.ConfigFile != "" && configPath != "" {
		args = append(args, "--config", configPath)
	}
	args = append(args, s.SchedArgs...)
	args = append(args, extra...)
	return append(args, p.Args...)
}

// reservedKernelArgs are kernel parameters the harness relies on; a
// scheduler may not override them.
var reservedKernelArgs = []string{"console", "earlycon", "earlyprintk", "init", "rdinit", "panic", "oops", "panic_on_oops", "panic_on_warn"}

// ValidateKernelArgs rejects KernelArgs that would override the console,
// init or panic settings the harness depends on, and empty arguments.
func ValidateKernelArgs(args []string) error {
	for _, a := range args {
		key, _, _ := strings.Cut(a, "=")
		if strings.TrimSpace(a) == "" || strings.ContainsAny(a, " \t\n") {
			return fmt.Errorf("KernelArgs %q: one parameter per element, without spaces", a)
		}
		for _, r := range reservedKernelArgs {
			if key == r {
				return fmt.Errorf("KernelArgs %q: the harness sets %s itself (console, init and panic settings cannot be overridden)", a, r)
			}
		}
	}
	return nil
}
