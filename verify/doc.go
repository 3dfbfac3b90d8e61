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
// formula. Merge, Validate, Defaults, ScaledLimits, Check and CheckMonitor
// are all derived from that table, and so is the copy of a ktstr.Test's
// fields (FromStruct).
// The host-side monitor's checks (imbalance, local DSQ depth, stall,
// fallback and keep-last rates, and the sustained-samples parameter) are in
// the table too; CheckMonitor evaluates them over the MonitorSeries the
// monitor took.
package verify
