// Package workload runs the worker processes whose treatment by a scheduler
// a ktstr test measures, and collects what each measured.
//
//	s, err := workload.Start(workload.Spec{Kind: workload.CpuSpin(), Count: 4, Cgroup: dir})
//	if err != nil { ... }
//	time.Sleep(d)
//	reports, err := s.Stop() // one Report per worker
//
// # Process model
//
// Every worker is a process: Start re-executes the running binary
// (os.Executable) with the environment variable KTSTR_ROLE=worker
// (proto.EnvRole) and the worker's description as JSON in
// KTSTR_WORKER_SPEC. Its only argument, -test.run=^$, makes a test binary
// that lacks the dispatch below run no test rather than all of them. The binary's entry point must hand such a process to
// WorkerMain before doing anything else; ktstr.Main does, and a package that
// starts workers in its own tests does it in TestMain:
//
//	func TestMain(m *testing.M) {
//		if workload.IsWorker() {
//			os.Exit(workload.WorkerMain())
//		}
//		os.Exit(m.Run())
//	}
//
// A worker inherits a memfd with the Set's control page (shared memory), a
// pipe it sends its messages on, a "life" pipe the parent holds open, and
// for group work types a memfd with its group's page (and for PipeIo its two
// pipe ends). Start then, for each worker:
//
//  1. writes its pid to <Spec.Cgroup>/cgroup.procs (retrying EBUSY and
//     EAGAIN), while the worker blocks on the life pipe;
//  2. tells it to set up: the worker sets its affinity, policy and nice
//     value on all its threads (they are per-thread attributes, and a Go
//     process has several), its memory policy and a timer slack of 1ns on
//     its work thread, prepares its work (buffers, files), and reports ready
//     or the error, which fails Start;
//
// and when all are ready, stamps the release time in the control page and
// flips its Go word with a FUTEX_WAKE, releasing them together. A worker
// therefore does all its work in its cgroup and under its settings.
//
// Stop stamps the stop time, sets the control page's Stop word, wakes every
// futex word of the control and group pages and closes the life pipes. A
// worker finishes its current iteration (all blocking waits are woken, or
// last at most 100ms), sends its Report as a JSON line and exits; the parent
// reaps it. A worker that dies, or does not report within
// Spec.StopTimeout and is killed, gets a Report with Err set, and Stop's
// error names it. If the parent dies, the closing of the life pipe stops the
// workers.
//
// A worker works on one OS thread, its "work thread": WorkerMain locks its
// goroutine to the thread it runs on. Per-thread measurements refer to it.
// The workers' stdout and stderr go to the parent, which keeps their last
// 2 KiB for the Err of a worker that failed.
//
// # Measurements
//
// Every work type loops until stopped, and calls the checkpoint
// Control.Progress once per iteration with the number of work units the
// iteration did. A Report holds:
//
//   - WorkUnits: the sum of those units; what a unit is depends on the
//     work type (below). Iterations: the number of checkpoints.
//   - MaxGap: the longest CLOCK_MONOTONIC interval between two consecutive
//     checkpoints, the first one measured from the release. It includes
//     whatever happened in between: time off the CPU, but also the
//     deliberate sleeps of sleeping work types and waits for peers.
//     MaxGapAt is when that gap ended, from the release; MaxGapCPU is the
//     CPU of the checkpoint that ended it.
//   - Migrations: each checkpoint (and the release) reads the current CPU
//     with getcpu(2); a checkpoint on another CPU than the previous one
//     counts one migration. CPUs is the sorted set of CPUs seen.
//     Migrations that return to the same CPU between checkpoints are not
//     seen.
//   - WakeLatencies, WakeCount: wake-up latencies, a uniform sample of 1024
//     (reservoir sampling, Algorithm R) and their count. For hand-offs
//     between workers, the waker writes a CLOCK_MONOTONIC timestamp into
//     the group's shared page right before it wakes its peer (write, or
//     FUTEX_WAKE), and the woken worker records now minus that timestamp
//     when it runs again. For sleeps (Control.Sleep: Mixed, Bursty, Sequence
//     sleep phases) the latency is the actual wake time minus the intended
//     one.
//   - WallTime: from the release to the stop, as stamped by the parent.
//     CPUTime: the work thread's run time between the release and the end
//     of its loop, from /proc/thread-self/schedstat (nanoseconds), or when
//     that file is missing from getrusage(RUSAGE_THREAD). OffCPU: WallTime
//     minus CPUTime (not below zero). Schedstat: the change of the work
//     thread's schedstat (zero without it). The Go runtime's other threads
//     in the worker are not counted.
//
// # Work types
//
// A spin batch is 32768 steps of xorshift arithmetic (some tens of
// microseconds); a small spin 256 steps.
//
//   - CpuSpin: a spin batch per iteration. Unit: a batch.
//   - YieldHeavy: a small spin and sched_yield(2). Unit: a yield.
//   - Mixed: a spin batch, sched_yield(2) and a 100µs sleep. Unit: an
//     iteration. Latency: the sleep's lateness.
//   - IoSync: a 4 KiB pwrite(2) to an unlinked file in $TMPDIR (default
//     /tmp, a tmpfs in the guest) followed by fdatasync(2). Unit: a block.
//   - Bursty(burst, sleep): spin batches, a checkpoint after each, for
//     burst; then sleep. Unit: a batch. Latency: the sleep's lateness.
//   - PipeIo: pairs; a byte goes back and forth over two pipes; each worker
//     waits for it (poll(2), then read(2)) and sends it back. Unit: a byte
//     received. Latency: from the peer's write to the return of the read.
//   - FutexPingPong: pairs; a futex word says whose turn it is; a worker
//     waits (FUTEX_WAIT) for its turn, does a small spin, hands the turn
//     over and FUTEX_WAKEs the peer. Unit: a turn. Latency: from the peer's
//     hand-over to the turn's start.
//   - CachePressure(size, stride): 4096 writes per iteration, stride bytes
//     apart, wrapping in a buffer of size bytes. Unit: a write.
//   - FutexFanOut(n): groups of 1+n; worker 0 of a group waits until the n
//     others have handled the previous wake-up, then bumps a generation
//     word and wakes all of them with one FUTEX_WAKE; each of the others
//     waits for a new generation, does a small spin and acknowledges. Unit:
//     a round (waker), a wake-up (waiters). Latency (waiters): from the
//     FUTEX_WAKE to the waiter running.
//   - ForkExit: fork and exec /bin/true (or /usr/bin/true, or the binary
//     itself in a role that exits at once) and wait for it. Unit: a child.
//   - NiceSweep: a spin batch, then the next nice value of the work thread,
//     stepping from its starting value (0 if that is 19) to 19 and back.
//     Unit: a batch.
//   - AffinityChurn: a spin batch, then pinning the work thread to the next
//     CPU of its affinity mask at the start. Unit: a batch.
//   - PolicyChurn: a spin batch, then the next policy of SCHED_OTHER,
//     SCHED_BATCH, SCHED_IDLE. Unit: a batch.
//   - PageFaultChurn: map 256 KiB of anonymous memory, write to each of its
//     64 pages, unmap it. Unit: a page.
//   - MutexContention(n): groups of n contend for a futex-based mutex in
//     their group's page; the critical section increments a shared counter
//     and does a small spin; four small spins follow outside it. Unit: a
//     critical section. Latency: from the FUTEX_WAKE of an unlock to a
//     woken waiter running.
//   - Sequence(phases...): the phases in order, over and over; a Spin phase
//     checkpoints per spin batch, Yield per sched_yield, Io per IoSync block,
//     Sleep once after its sleep (whose lateness is a latency). Unit: the
//     phase's (batch, yield, block, sleep).
//   - Custom(name, fn): fn's loop; it calls Progress itself, and may record
//     latencies with WakeLatency or sleep with Sleep.
package workload
