// Package schedbuild builds, on the host, the sched_ext schedulers of the
// guest kernel's own source tree (tools/sched_ext: scx_simple, scx_qmap,
// scx_central, scx_flatcg) and this project's fixture scheduler, and keeps
// them in the scheduler cache, one entry per kernel (`ktstr sched build`).
// Package scheduler's Discover searches that cache.
package schedbuild
