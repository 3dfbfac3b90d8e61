// Package gauntlet expands one test declaration into variants across
// topology presets, flag profiles and kernels, filters them, picks a
// budgeted subset and shards them over machines.
//
// It is pure logic: deterministic, with no I/O and no environment reads.
// The root package feeds it the host's facts (accelerator, CPUs, available
// memory, KTSTR_OVERCOMMIT), the test's declaration and the values of
// KTSTR_BUDGET_SECS, KTSTR_SHARD, KTSTR_SHARDS and JOB_COMPLETION_INDEX,
// then runs every variant as the subtest gauntlet/<preset>/<profile>, or
// gauntlet/<preset>/<profile>/<kernel> with several kernels, of the test,
// skipping (with Variant.Skip as the reason) those that do not run.
//
// # Presets
//
// Presets lists the topologies of the gauntlet, from tiny single-LLC guests
// through odd LLC counts, SMT and no-SMT shapes, up to 252 CPUs and four
// NUMA nodes; PresetByName finds one.
//
// # Expansion
//
// Expand builds the cross product presets × profiles × kernels, preset
// order outermost, then profile order, then kernel order innermost. With
// no kernel or one, there is no kernel dimension: names carry no kernel and
// Variant.Kernel is "". Each variant gets its guest memory (at least 64 MiB
// per vCPU and 256 MiB in all, more if the test asks), its estimated wall
// time (see Estimate), its coverage features (see ApplyBudget) and its
// shard key. A variant that cannot run gets Skip set to the first reason
// that applies:
//
//   - the constraints (Constraints.Allows), e.g.
//     "constraints: 2 NUMA nodes > MaxNumaNodes 1";
//   - the host's available memory, e.g.
//     "host: needs 8192 MB of memory, 6000 MB available";
//   - under KVM, more vCPUs than host CPUs without Host.Overcommit, e.g.
//     "host: 32 vCPUs > 16 host CPUs under KVM (set KTSTR_OVERCOMMIT=1 to run it anyway)";
//   - under TCG, more than MaxTCGRatio vCPUs per host CPU, e.g.
//     "host: 64 vCPUs on 2 host CPUs under TCG is 32 per CPU, over 8 (boots too slowly to mean anything)".
//
// # Budget
//
// ApplyBudget picks, among the variants that would run, a subset whose
// estimated time fits in a budget (KTSTR_BUDGET_SECS) while covering as
// many features (scheduler, flags, CPU, LLC, SMT and NUMA shape, test
// duration, kernel, test) as it can: a greedy set cover by new features
// per estimated second, ties broken by name. The choice depends only on the
// variants, never on the machine's shard, so every machine picks the same.
//
// # Shards
//
// ShardFromEnv reads a Shard from KTSTR_SHARD=i/n, or from KTSTR_SHARDS=n
// with JOB_COMPLETION_INDEX=i (a Kubernetes Indexed Job). ApplyShard keeps
// the variants whose key (test name + "/" + variant name) hashes to this
// shard, so the same tests on n machines partition the variants exactly.
//
// The order of application is: constraints and host (Expand), then budget
// (ApplyBudget, global), then shard (ApplyShard).
package gauntlet
