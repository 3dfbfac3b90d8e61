//go:build linux

// Command scx_fixture is ktstr's own fixture sched_ext scheduler: a global
// FIFO that can be told to misbehave, so the harness can prove that it
// catches broken schedulers.
//
// Every task goes on one shared dispatch queue (DSQ) and CPUs take tasks from
// it in arrival order, each with a fixed 20 ms slice (SCX_SLICE_DFL). A task
// waking up while a CPU is idle is handed straight to that CPU. The
// scheduler registers as "fixture" (/sys/kernel/sched_ext/root/ops).
//
// A "dispatch" is one task handed to a CPU by the scheduler: a task taken
// from a DSQ in ops.dispatch or put straight on an idle CPU in
// ops.select_cpu. Letting the running task go on for another slice is not a
// dispatch, nor is parking a task on the stall DSQ (below).
//
// # Knobs
//
//	--stall-after N   after N dispatches in total (of any tasks; exactly N
//	                  happen before the stall) never dispatch a user task (one
//	                  without PF_KTHREAD) again, while kernel threads keep
//	                  being scheduled FIFO as before (and counted). Every user
//	                  task enqueued from then on, and every one still queued,
//	                  is parked on a third "stall" DSQ that is never
//	                  consumed. The kernel's watchdog work item is a kernel
//	                  thread, so it keeps running and checking in, and ejects
//	                  the scheduler ("runnable task stall") with a message
//	                  naming a starved user task, "<comm>[<pid>] failed to run
//	                  for X.XXXs", within about 1.5 watchdog timeouts of the
//	                  stall (it checks every half timeout). A user task
//	                  running when the stall begins may go on while nothing
//	                  else is queued for its CPU (the kernel keeps a lone
//	                  task running; that is not a dispatch) and is parked once
//	                  it sleeps or a kernel thread needs the CPU; the
//	                  fixture's own threads, which wake every 100 ms, starve
//	                  for sure. The "stalled" counter counts parked tasks.
//	--error-on-exit   on SIGINT/SIGTERM, before detaching, have the BPF side
//	                  call scx_bpf_error("fixture: error on exit") (user space
//	                  sets the BPF global error_now; the next ops.enqueue,
//	                  ops.dispatch or ops.tick raises the error once), wait up
//	                  to 3 s for the kernel to disable the scheduler, then
//	                  detach and exit 0 as if it had shut down normally. It
//	                  stands for a scheduler ejected between the harness's
//	                  last look and its stop: only the kernel log tells
//	                  (sched_ext: BPF scheduler "fixture" disabled
//	                  (scx_bpf_error), then sched_ext: fixture: fixture: error
//	                  on exit). It combines with the other knobs; if the
//	                  kernel ejected the scheduler before the signal, the exit
//	                  is the usual one (status 1).
//	--error-after N   the Nth dispatch calls
//	                  scx_bpf_error("fixture: error after N dispatches") once;
//	                  the kernel ejects the scheduler with that message.
//	--degrade PCT     0-100, unfair without stalling. The tasks of "slow"
//	                  thread groups go on a second "slow" DSQ, with a slice
//	                  of (100-PCT)% of 20 ms (at least 1 ms). A CPU needing
//	                  work serves the shared DSQ first with probability PCT%
//	                  (and, if it is empty, lets a runnable task of a
//	                  non-slow group go on rather than run a slow one),
//	                  otherwise the slow DSQ first. A starvation guard
//	                  overrides that choice: once the head of either DSQ has
//	                  waited over 50 ms, the DSQ whose head waited longer is
//	                  served first, so every task runs at least every ~50 ms
//	                  plus a slice and the watchdog stays quiet.
//
//	                  Slow groups alternate in creation order. Each user
//	                  thread group created while the scheduler is loaded
//	                  takes the next value n = 1, 2, 3, ... of a global
//	                  counter, and it is slow iff n is odd: the first process
//	                  started after attaching is slow, the second is not, the
//	                  third is, and so on, so two processes created one right
//	                  after the other always land on different sides. A
//	                  group is counted when its leader (a task forked after
//	                  the attach, with pid == tgid, not a kernel thread) is
//	                  enabled on sched_ext (ops.enable; creating a thread or
//	                  exec() does not count). Its threads follow it (looked
//	                  up by tgid). Processes that existed before the attach
//	                  and kernel threads are never slow. The counter is the
//	                  "groups" figure of the counter line.
//	--pile-on CPU     pile every user task onto CPU: each user task (no
//	                  PF_KTHREAD) whose cpumask allows CPU is dispatched to
//	                  CPU's local DSQ (SCX_DSQ_LOCAL_ON|CPU, at the tail)
//	                  and nowhere else, and ops.select_cpu keeps returning
//	                  CPU for it. Kernel threads are scheduled as without
//	                  the knob (shared DSQ), except those that may run on
//	                  CPU only (kworker/CPU:*, ksoftirqd/CPU, ...): CPU never
//	                  serves the shared DSQ while its local DSQ is not
//	                  empty, so they go on CPU's local DSQ too, at its head
//	                  when they wake up. User tasks that may not run on CPU
//	                  are scheduled as without the knob. With N runnable
//	                  user tasks CPU's rq->nr_running is about N and its
//	                  local DSQ depth about N-1, while the other CPUs hold
//	                  0 to 3 (kernel threads): an imbalance (ratio far above
//	                  4) and, with more than 51 runnable tasks, a local DSQ
//	                  deeper than 50. Count threads, not processes: 60
//	                  ktstr worker processes make 150-270 runnable tasks
//	                  (their Go runtime threads and the harness's own
//	                  count). The local DSQ is FIFO, so every task runs once
//	                  per round; the slice is 20 ms while a round of them
//	                  all fits in 1 s, else shorter (1 s divided among them,
//	                  at least 1 ms), so no task waits much longer than 1 s
//	                  (~2 s measured under TCG with 60 workers) up to ~1000
//	                  runnable tasks, under the 4 s watchdog and the
//	                  harness's gap limit.
//	--stall-cpu CPU   make CPU's runqueue clock stand still while it has a
//	                  runnable task. Whenever ops.dispatch runs on CPU with
//	                  the previous task still runnable (its slice ran out)
//	                  and no RT, deadline or stop task runnable there, it
//	                  spins for --stall-ms (default 1000 ms, timed with
//	                  bpf_ktime_get_ns()) before going on: it holds CPU's
//	                  rq lock with interrupts off, so no tick, schedule or
//	                  wakeup there updates rq->clock, while CPU's vCPU
//	                  burns host CPU. Then CPU runs one task for one slice
//	                  (20 ms) and spins again: frozen --stall-ms at a time,
//	                  over and over. A dispatch after the task slept, or on
//	                  an idle CPU, does not spin. Tasks that may run
//	                  elsewhere do not wake onto CPU unless it is idle, and
//	                  a task on CPU's runqueue that may run elsewhere is
//	                  sent to another CPU's local DSQ when it is enqueued,
//	                  so no other CPU takes CPU's rq lock to move it: CPU
//	                  runs one task at a time (rq->nr_running 1 during the
//	                  spins). What the scheduler cannot keep away still
//	                  waits for the current spin with interrupts off, and
//	                  that CPU's clock stands still too: RT tasks the kernel
//	                  wakes onto CPU (ktstr's SCHED_FIFO sentinel does so
//	                  often), tasks pinned to CPU woken from elsewhere, RCU
//	                  Tasks Trace, the kernel watchdog's per-CPU check, a
//	                  sched_ext dump; each for at most one spin. So a
//	                  host-side monitor sees other CPUs stall alongside CPU
//	                  in many spins (under TCG with ktstr's sentinel: in 60
//	                  to 80% of them), and since CPU does almost nothing
//	                  else, the others carry the load: with CPU at
//	                  nr_running 1 an imbalance ratio above 4 is likely.
//	                  Stopping (SIGINT, or an ejection) waits for at most
//	                  one spin. Needs another online CPU.
//	--stall-ms N      with --stall-cpu, the length of one spin, 1-5000 ms
//	                  (default 1000). Keep it under half the watchdog
//	                  timeout (the watchdog's work item must check in within
//	                  one timeout, and its per-CPU check waits for a spin):
//	                  under 2000 with the harness's 4 s default.
//	--watchdog-ms N   sched_ext_ops.timeout_ms: the kernel's runnable-task
//	                  stall timeout (0 = kernel default, 30 s; at most 30000).
//	-v                print the counters to stderr once a second.
//
// 0 turns each of stall-after, error-after and degrade off; --pile-on and
// --stall-cpu are off unless given. A CPU must be online (checked against
// /sys/devices/system/cpu/online; exit status 2 if not).
//
// Refused combinations (exit status 2), since each of these knobs decides
// where user tasks go: --pile-on with --stall-cpu, and either of them with
// --stall-after or --degrade; --stall-ms without --stall-cpu. They combine
// with --error-after, --error-on-exit, --watchdog-ms and -v.
//
// # Output and exit status
//
// On success it prints
//
//	scx_fixture: attached (stall-after=N error-after=N degrade=PCT watchdog-ms=N error-on-exit=BOOL pile-on=CPU stall-cpu=CPU stall-ms=N)
//
// (pile-on and stall-cpu read "off" when not given) to stdout and waits.
// SIGINT or SIGTERM detaches the scheduler, prints
// "scx_fixture: detached" and exits 0 (with --error-on-exit too, after the
// error; a note about it goes to stderr). If the kernel ejects the scheduler
// (watchdog, scx_bpf_error, sysrq-S, ...) it prints
//
//	scx_fixture: scheduler exited: kind=ERROR_STALL reason="runnable task stall" msg="..."
//
// to stdout and exits 1. Bad flags exit 2; failing to load or attach (for
// example because another sched_ext scheduler is active) exits 3. A final
// counter line goes to stderr.
//
// The counter line has, with --pile-on, piled (tasks dispatched to the
// CPU's local DSQ), pile_nr_max and pile_dsq_max (the largest
// rq->nr_running and local DSQ depth of the CPU seen at its ticks); with
// --stall-cpu, spins, spin_ms_max and spin_ms_avg, clock_moved (spins
// during which the CPU's rq->clock changed: 0 unless the knob is broken)
// and pushed (tasks sent off the CPU's runqueue at enqueue).
//
// # Regenerating the BPF bindings
//
// fixture_x86_bpfel.go and fixture_x86_bpfel.o are generated from
// bpf/fixture.bpf.c and committed, so building needs no clang. After editing
// the C source run
//
//	go generate ./cmd/scx_fixture
//
// which runs bpf/gen.sh: it needs clang-19, llvm-strip, bpftool, a vmlinux
// with BTF (argument, or the newest $KTSTR_CACHE_DIR/kernels/*/vmlinux) and a
// kernel source tree with tools/sched_ext (KSRC, or the newest
// $KTSTR_CACHE_DIR/src/linux-source-*). vmlinux.h lands in bpf/.gen/, which is
// not committed. The BPF side uses the 6.12 kfunc names (scx_bpf_dispatch,
// scx_bpf_consume).
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// Exit statuses.
const (
	exitOK       = 0 // detached on SIGINT/SIGTERM
	exitEjected  = 1 // the kernel ejected the scheduler
	exitUsage    = 2 // bad command line
	exitSetupErr = 3 // could not load or attach
)

const (
	prog         = "scx_fixture"
	stateFile    = "/sys/kernel/sched_ext/state"
	onlineFile   = "/sys/devices/system/cpu/online"
	maxTimeoutMS = 30000 // SCX_WATCHDOG_MAX_TIMEOUT is 30 s
	pollInterval = 100 * time.Millisecond
	opsMapName   = "fixture_ops"
)

// scx_exit_kind values (include/linux/sched/ext.h, kernel/sched/ext.c).
var exitKinds = map[int32]string{
	0:    "NONE",
	1:    "DONE",
	64:   "UNREG",
	65:   "UNREG_BPF",
	66:   "UNREG_KERN",
	67:   "SYSRQ",
	1024: "ERROR",
	1025: "ERROR_BPF",
	1026: "ERROR_STALL",
}

const exitKindUnreg = 64 // SCX_EXIT_UNREG: unregistered from user space

// userExitInfo mirrors struct user_exit_info of
// tools/sched_ext/include/scx/user_exit_info.h.
type userExitInfo struct {
	Kind     int32
	Pad      int32
	ExitCode int64
	Reason   [128]byte
	Msg      [1024]byte
}

func (u userExitInfo) String() string {
	kind, ok := exitKinds[u.Kind]
	if !ok {
		kind = fmt.Sprintf("%d", u.Kind)
	}
	s := fmt.Sprintf("kind=%s reason=%q msg=%q", kind, cstr(u.Reason[:]), cstr(u.Msg[:]))
	if u.ExitCode != 0 {
		s += fmt.Sprintf(" exit_code=%#x", u.ExitCode)
	}
	return s
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

type config struct {
	stallAfter uint64
	errorAfter uint64
	degrade    uint
	watchdogMS uint
	// errorOnExit: on SIGINT/SIGTERM make the BPF side call scx_bpf_error()
	// before detaching, then exit 0 anyway.
	errorOnExit bool
	verbose     bool
	// pileOn and stallCPU are CPU numbers, noCPU when not given.
	pileOn   int
	stallCPU int
	stallMS  uint
}

// noCPU is the value of an unset CPU knob (the BPF side's -1).
const noCPU = -1

// Bounds of --stall-ms.
const (
	defaultStallMS = 1000
	maxStallMS     = 5000
)

// defaultConfig is the configuration without flags.
func defaultConfig() config {
	return config{pileOn: noCPU, stallCPU: noCPU, stallMS: defaultStallMS}
}

// cpuFlag is a flag.Value for a CPU number: 0 or more; the zero Value
// (and noCPU) print as "".
type cpuFlag struct{ p *int }

func (f cpuFlag) String() string {
	if f.p == nil || *f.p == noCPU {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f cpuFlag) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return errors.New("not a CPU number")
	}
	if n < 0 {
		return errors.New("a CPU number is 0 or more")
	}
	*f.p = int(n)
	return nil
}

func cpuString(cpu int) string {
	if cpu == noCPU {
		return "off"
	}
	return strconv.Itoa(cpu)
}

// errUsagePrinted is a command-line error that the flag package has
// already reported.
type errUsagePrinted struct{ error }

func (e errUsagePrinted) Unwrap() error { return e.error }

// expandConfig replaces each "--config FILE" (or "--config=FILE") in args
// by the arguments in FILE: one per line, blank lines and lines starting
// with # skipped. This is how a ktstr Scheduler's ConfigFile reaches the
// fixture.
func expandConfig(args []string) ([]string, error) {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var path string
		switch {
		case a == "--config" || a == "-config":
			if i+1 == len(args) {
				return nil, fmt.Errorf("%s needs a file", a)
			}
			i++
			path = args[i]
		case strings.HasPrefix(a, "--config="), strings.HasPrefix(a, "-config="):
			_, path, _ = strings.Cut(a, "=")
		default:
			out = append(out, a)
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
	}
	return out, nil
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	c := defaultConfig()
	args, err := expandConfig(args)
	if err != nil {
		return c, err
	}
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&c.stallAfter, "stall-after", 0, "after `N` dispatches in total, never dispatch a user task again (kernel threads still run), so the watchdog names a starved task (0: never)")
	fs.Uint64Var(&c.errorAfter, "error-after", 0, "call scx_bpf_error() at the `N`th dispatch (0: never)")
	fs.UintVar(&c.degrade, "degrade", 0, "starve every other process created after attach (the 1st, 3rd, 5th, ...) `PCT`% of the time, 0-100 (0: fair)")
	fs.BoolVar(&c.errorOnExit, "error-on-exit", false, "on SIGINT/SIGTERM, call scx_bpf_error(\"fixture: error on exit\") and wait for the kernel to disable the scheduler, then exit 0 as if detached normally")
	fs.UintVar(&c.watchdogMS, "watchdog-ms", 0, "sched_ext watchdog timeout in `ms`, at most 30000 (0: kernel default)")
	fs.Var(cpuFlag{&c.pileOn}, "pile-on", "put every user task that may run on `CPU` on CPU's local DSQ and nowhere else (kernel threads still use the shared DSQ, but those pinned to CPU join its local DSQ): CPU's nr_running and local DSQ grow with the load, the other CPUs idle")
	fs.Var(cpuFlag{&c.stallCPU}, "stall-cpu", "whenever ops.dispatch runs on `CPU` with its previous task still runnable, spin there for --stall-ms with the rq lock held: CPU's rq->clock stands still while it has a runnable task and its vCPU burns host CPU (tasks that may run elsewhere are kept off CPU)")
	fs.UintVar(&c.stallMS, "stall-ms", defaultStallMS, "with --stall-cpu, the length of one spin in `ms`, 1-5000; keep it under half the watchdog timeout")
	fs.BoolVar(&c.verbose, "v", false, "print counters to stderr every second")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [--config FILE] [flags]\n\nA global FIFO sched_ext scheduler that misbehaves on request.\n--config FILE reads more flags from FILE, one per line.\n\n", prog)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		// The flag package has already printed the error and the usage.
		return c, errUsagePrinted{err}
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if c.degrade > 100 {
		return c, fmt.Errorf("--degrade %d: must be 0-100", c.degrade)
	}
	if c.watchdogMS > maxTimeoutMS {
		return c, fmt.Errorf("--watchdog-ms %d: the kernel allows at most %d", c.watchdogMS, maxTimeoutMS)
	}
	stallMSSet := false
	fs.Visit(func(f *flag.Flag) { stallMSSet = stallMSSet || f.Name == "stall-ms" })
	if stallMSSet && c.stallCPU == noCPU {
		return c, errors.New("--stall-ms: only with --stall-cpu")
	}
	if c.stallMS < 1 || c.stallMS > maxStallMS {
		return c, fmt.Errorf("--stall-ms %d: must be 1-%d", c.stallMS, maxStallMS)
	}
	for _, k := range []struct {
		name string
		set  bool
	}{{"--pile-on", c.pileOn != noCPU}, {"--stall-cpu", c.stallCPU != noCPU}} {
		if !k.set {
			continue
		}
		if k.name == "--pile-on" && c.stallCPU != noCPU {
			return c, errors.New("--pile-on and --stall-cpu do not combine: each decides where user tasks go")
		}
		if c.stallAfter > 0 {
			return c, fmt.Errorf("%s and --stall-after do not combine: each decides where user tasks go", k.name)
		}
		if c.degrade > 0 {
			return c, fmt.Errorf("%s and --degrade do not combine: each decides where user tasks go", k.name)
		}
	}
	return c, nil
}

// parseCPUList parses a kernel CPU list such as "0-3,5" (as in
// /sys/devices/system/cpu/online).
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// checkCPUs checks the CPU knobs of c against the online CPUs.
func checkCPUs(c config, online []int) error {
	isOnline := func(cpu int) bool {
		for _, o := range online {
			if o == cpu {
				return true
			}
		}
		return false
	}
	if c.pileOn != noCPU && !isOnline(c.pileOn) {
		return fmt.Errorf("--pile-on %d: no such online CPU (online: %s)", c.pileOn, fmtCPUs(online))
	}
	if c.stallCPU != noCPU {
		if !isOnline(c.stallCPU) {
			return fmt.Errorf("--stall-cpu %d: no such online CPU (online: %s)", c.stallCPU, fmtCPUs(online))
		}
		if len(online) < 2 {
			return fmt.Errorf("--stall-cpu %d: CPU %d is the only online CPU; stalling it would stall everything", c.stallCPU, c.stallCPU)
		}
	}
	return nil
}

func fmtCPUs(cpus []int) string {
	if len(cpus) == 0 {
		return "none"
	}
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// checkOnlineCPUs checks the CPU knobs of c against this machine's online
// CPUs.
func checkOnlineCPUs(c config) error {
	if c.pileOn == noCPU && c.stallCPU == noCPU {
		return nil
	}
	raw, err := os.ReadFile(onlineFile)
	if err != nil {
		return fmt.Errorf("checking the CPU knobs: %w", err)
	}
	online, err := parseCPUList(string(raw))
	if err != nil {
		return fmt.Errorf("checking the CPU knobs: %s: %w", onlineFile, err)
	}
	return checkCPUs(c, online)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		if !errors.As(err, new(errUsagePrinted)) {
			fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		}
		return exitUsage
	}
	if err := checkOnlineCPUs(cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return exitUsage
	}

	// Catch signals before attaching so that an early SIGINT still detaches.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)

	s, err := attach(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", prog, err)
		return exitSetupErr
	}
	fmt.Fprintf(stdout, "%s: attached (stall-after=%d error-after=%d degrade=%d watchdog-ms=%d error-on-exit=%t pile-on=%s stall-cpu=%s stall-ms=%d)\n",
		prog, cfg.stallAfter, cfg.errorAfter, cfg.degrade, cfg.watchdogMS, cfg.errorOnExit,
		cpuString(cfg.pileOn), cpuString(cfg.stallCPU), cfg.stallMS)

	code := s.wait(sigs, cfg, stdout, stderr)
	fmt.Fprintf(stderr, "%s: %s\n", prog, s.counters())
	if err := s.objs.Close(); err != nil {
		fmt.Fprintf(stderr, "%s: closing BPF objects: %v\n", prog, err)
	}
	return code
}

type sched struct {
	cfg  config
	objs fixtureObjects
	link link.Link
}

// attach loads the BPF objects with the knobs set and registers the scheduler.
func attach(cfg config) (*sched, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("removing memlock rlimit: %w", err)
	}
	if st, err := readState(); err == nil && st != "disabled" {
		return nil, fmt.Errorf("sched_ext state is %q, not \"disabled\": another BPF scheduler is active", st)
	}

	spec, err := loadFixture()
	if err != nil {
		return nil, fmt.Errorf("loading BPF spec: %w", err)
	}
	for name, v := range map[string]any{
		"stall_after": cfg.stallAfter,
		"error_after": cfg.errorAfter,
		"degrade_pct": uint32(cfg.degrade),
		"pile_cpu":    int32(cfg.pileOn),
		"stall_cpu":   int32(cfg.stallCPU),
		"stall_ns":    uint64(cfg.stallMS) * uint64(time.Millisecond),
	} {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("BPF variable %s: not found", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, fmt.Errorf("setting BPF variable %s: %w", name, err)
		}
	}
	if err := setOpsField(spec, "timeout_ms", uint32(cfg.watchdogMS)); err != nil {
		return nil, err
	}

	s := &sched{cfg: cfg}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading BPF objects: %+v", ve)
		}
		return nil, fmt.Errorf("loading BPF objects: %w", err)
	}
	l, err := link.AttachStructOps(link.StructOpsOptions{Map: s.objs.FixtureOps})
	if err != nil {
		s.objs.Close()
		if errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("attaching struct_ops %s: %w (another BPF scheduler is active?)", opsMapName, err)
		}
		return nil, fmt.Errorf("attaching struct_ops %s: %w", opsMapName, err)
	}
	s.link = l
	return s, nil
}

// setOpsField sets a u32 member of the sched_ext_ops struct_ops map's initial
// value, which the kernel reads when the map is loaded.
func setOpsField(spec *ebpf.CollectionSpec, field string, val uint32) error {
	ms, ok := spec.Maps[opsMapName]
	if !ok {
		return fmt.Errorf("struct_ops map %s: not found", opsMapName)
	}
	st, ok := btf.As[*btf.Struct](ms.Value)
	if !ok {
		return fmt.Errorf("struct_ops map %s: value type %T is not a struct", opsMapName, ms.Value)
	}
	if len(ms.Contents) != 1 {
		return fmt.Errorf("struct_ops map %s: %d initial values, want 1", opsMapName, len(ms.Contents))
	}
	data, ok := ms.Contents[0].Value.([]byte)
	if !ok {
		return fmt.Errorf("struct_ops map %s: initial value is %T, not []byte", opsMapName, ms.Contents[0].Value)
	}
	for _, m := range st.Members {
		if m.Name != field {
			continue
		}
		size, err := btf.Sizeof(m.Type)
		if err != nil {
			return fmt.Errorf("sched_ext_ops.%s: %w", field, err)
		}
		off := int(m.Offset.Bytes())
		if size != 4 || off+4 > len(data) {
			return fmt.Errorf("sched_ext_ops.%s: unexpected layout (offset %d, size %d)", field, off, size)
		}
		binary.NativeEndian.PutUint32(data[off:], val)
		return nil
	}
	return fmt.Errorf("sched_ext_ops.%s: no such field in this kernel's BTF", field)
}

// wait runs until a signal arrives (detach, exitOK) or the kernel ejects the
// scheduler (exitEjected).
func (s *sched) wait(sigs <-chan os.Signal, cfg config, stdout, stderr io.Writer) int {
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	last := time.Now()
	var disabledSince time.Time

	for {
		select {
		case sig := <-sigs:
			// The scheduler may have been ejected just before the signal.
			if ui, err := s.exitInfo(); err == nil && ui.Kind != 0 {
				s.close()
				fmt.Fprintf(stdout, "%s: scheduler exited: %s\n", prog, ui)
				return exitEjected
			}
			if cfg.errorOnExit {
				if err := s.errorOnExit(errorOnExitWait, stderr); err != nil {
					s.close()
					fmt.Fprintf(stderr, "%s: --error-on-exit: %v\n", prog, err)
					return exitSetupErr
				}
				// Exit like a scheduler that shut down normally.
				if err := s.close(); err != nil {
					fmt.Fprintf(stderr, "%s: detaching on %v: %v\n", prog, sig, err)
					return exitSetupErr
				}
				fmt.Fprintf(stdout, "%s: detached\n", prog)
				return exitOK
			}
			if err := s.close(); err != nil {
				fmt.Fprintf(stderr, "%s: detaching on %v: %v\n", prog, sig, err)
				return exitSetupErr
			}
			if ui, err := s.exitInfo(); err == nil && ui.Kind != 0 && ui.Kind != exitKindUnreg {
				fmt.Fprintf(stdout, "%s: scheduler exited: %s\n", prog, ui)
				return exitEjected
			}
			fmt.Fprintf(stdout, "%s: detached\n", prog)
			return exitOK

		case now := <-poll.C:
			ui, err := s.exitInfo()
			if err != nil {
				fmt.Fprintf(stderr, "%s: reading exit info: %v\n", prog, err)
			} else if ui.Kind != 0 {
				s.close()
				fmt.Fprintf(stdout, "%s: scheduler exited: %s\n", prog, ui)
				return exitEjected
			}
			// Fallback if ops.exit never recorded anything.
			if st, err := readState(); err == nil && st == "disabled" {
				if disabledSince.IsZero() {
					disabledSince = now
				} else if now.Sub(disabledSince) > time.Second {
					s.close()
					fmt.Fprintf(stdout, "%s: scheduler exited: kind=unknown reason=%q msg=\"\"\n",
						prog, "sched_ext state is disabled")
					return exitEjected
				}
			} else {
				disabledSince = time.Time{}
			}
			if cfg.verbose && now.Sub(last) >= time.Second {
				last = now
				fmt.Fprintf(stderr, "%s: %s\n", prog, s.counters())
			}
		}
	}
}

// errorOnExitWait bounds how long --error-on-exit waits for the kernel to
// disable the scheduler: the disable takes milliseconds, and the harness
// kills a scheduler that has not exited within 5 s of its SIGINT.
const errorOnExitWait = 3 * time.Second

// errorOnExit sets error_now, which makes the BPF side call scx_bpf_error()
// at its next ops.enqueue, ops.dispatch or ops.tick, and waits up to limit
// for the kernel to disable the scheduler: the exit recorded by ops.exit, or
// sched_ext's state reading "disabled". What happened goes to stderr; the
// error is only for failing to set error_now.
func (s *sched) errorOnExit(limit time.Duration, stderr io.Writer) error {
	if err := s.objs.ErrorNow.Set(uint64(1)); err != nil {
		return fmt.Errorf("setting BPF variable error_now: %w", err)
	}
	start := time.Now()
	for {
		ui, err := s.exitInfo()
		if err == nil && ui.Kind != 0 {
			fmt.Fprintf(stderr, "%s: --error-on-exit: the kernel disabled the scheduler after %s: %s; exiting 0 as if detached\n",
				prog, time.Since(start).Round(time.Millisecond), ui)
			return nil
		}
		if st, err := readState(); err == nil && st == "disabled" {
			fmt.Fprintf(stderr, "%s: --error-on-exit: sched_ext state is disabled after %s (no exit info recorded); exiting 0 as if detached\n",
				prog, time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(start) >= limit {
			// error_now is 2 once the BPF side has called scx_bpf_error().
			var raised uint64
			_ = s.objs.ErrorNow.Get(&raised)
			fmt.Fprintf(stderr, "%s: --error-on-exit: the kernel had not disabled the scheduler %s after the request (error_now=%d); detaching\n",
				prog, limit, raised)
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *sched) exitInfo() (userExitInfo, error) {
	var ui userExitInfo
	if err := s.objs.Uei.Get(&ui); err != nil {
		return ui, fmt.Errorf("reading uei: %w", err)
	}
	return ui, nil
}

func (s *sched) counters() string {
	get := func(vs ...*ebpf.Variable) ([]uint64, error) {
		ns := make([]uint64, len(vs))
		for i, v := range vs {
			if err := v.Get(&ns[i]); err != nil {
				return nil, err
			}
		}
		return ns, nil
	}
	o := &s.objs
	n, err := get(o.NrDispatched, o.NrEnqueued, o.NrSlowDispatched, o.NrGuard, o.NrKept, o.NrGroups, o.NrStalled)
	if err != nil {
		return fmt.Sprintf("reading counters: %v", err)
	}
	line := fmt.Sprintf("dispatched=%d enqueued=%d slow=%d guard=%d kept=%d groups=%d stalled=%d",
		n[0], n[1], n[2], n[3], n[4], n[5], n[6])
	if s.cfg.pileOn != noCPU {
		n, err := get(o.NrPiled, o.PileNrMax, o.PileDsqMax)
		if err != nil {
			return fmt.Sprintf("reading counters: %v", err)
		}
		line += fmt.Sprintf(" piled=%d pile_nr_max=%d pile_dsq_max=%d", n[0], n[1], n[2])
	}
	if s.cfg.stallCPU != noCPU {
		n, err := get(o.NrSpins, o.SpinNsMax, o.SpinNsTotal, o.NrClockMoved, o.NrPushed)
		if err != nil {
			return fmt.Sprintf("reading counters: %v", err)
		}
		avg := 0.0
		if n[0] > 0 {
			avg = float64(n[2]) / float64(n[0])
		}
		line += fmt.Sprintf(" spins=%d spin_ms_max=%.1f spin_ms_avg=%.1f clock_moved=%d pushed=%d",
			n[0], float64(n[1])/1e6, avg/1e6, n[3], n[4])
	}
	return line
}

// close detaches the scheduler (if still attached) and releases the BPF
// objects' file descriptors. The global variables stay readable.
func (s *sched) close() error {
	var err error
	if s.link != nil {
		if cerr := s.link.Close(); cerr != nil {
			err = fmt.Errorf("closing struct_ops link: %w", cerr)
		}
		s.link = nil
	}
	return err
}

func readState() (string, error) {
	b, err := os.ReadFile(stateFile)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", stateFile, err)
	}
	return strings.TrimSpace(string(b)), nil
}
