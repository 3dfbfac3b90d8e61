// Package verify turns what the workers of a test measured into a verdict:
// the checks (starvation, fairness spread, scheduling gaps, isolation,
// throughput, work and iteration rates, wake-up latency, migrations), their
// thresholds, the merge chain that gives a test its configuration
// (framework defaults, then the scheduler's Checks, then the test's
// fields), how the accelerator scales limits, and the Result the test
// function returns.
//
// Each setting is declared once, in the table Settings returns: its check
// id, the Config field that configures it, its default, unit, scaling and
// formula. Merge, Validate, Defaults, ScaledLimits and Check are all derived
// from that table, and so is the copy of a ktstr.Test's fields (FromStruct).
// The monitor's settings (imbalance, DSQ depth, stall, sustained samples,
// fallback and keep-last rates) are in the table too; no monitor evaluates
// them yet.
package verify
