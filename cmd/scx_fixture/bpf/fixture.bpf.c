/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_fixture: ktstr's own fixture sched_ext scheduler.
 *
 * A global FIFO: every task is queued on one shared DSQ and CPUs consume it
 * in arrival order; every dispatch hands out the same fixed slice. Knobs
 * (const volatile globals, set by user space before load) make it misbehave
 * on purpose so the test harness can prove it notices:
 *
 * stall_after N   After N dispatches in total the scheduler is "stalled": from
 *                 then on it never dispatches a user task (one without
 *                 PF_KTHREAD) again, while kernel threads keep being
 *                 scheduled FIFO as before. Exactly N dispatches, of any
 *                 tasks, happen before the stall; every later one is of a
 *                 kernel thread. Once stalled, ops.enqueue puts user tasks on
 *                 a third, "stall" DSQ that is never consumed, ops.select_cpu
 *                 direct-dispatches only kernel threads, and ops.dispatch
 *                 scans the shared DSQ: it moves the user tasks it meets
 *                 (queued before the stall began) to the stall DSQ and
 *                 dispatches the first kernel thread that may run on this
 *                 CPU. The slow DSQ (degrade) is emptied into the stall DSQ
 *                 too. So the kernel's watchdog work item (a kworker) keeps
 *                 running and checking in, and ejects the scheduler
 *                 ("runnable task stall") naming a starved user task:
 *                 "<comm>[<pid>] failed to run for X.XXXs", within about 1.5
 *                 watchdog timeouts of the stall (the check runs every half
 *                 timeout). A user task already running when the stall
 *                 begins may go on running: when nothing else is queued for
 *                 its CPU the kernel lets it continue (SCX_OPS_ENQ_LAST is not
 *                 set), which is not a dispatch; it is parked as soon as it
 *                 sleeps or a kernel thread takes its CPU. Some user task
 *                 always starves: the fixture's own user space wakes every
 *                 100 ms.
 * error_after N   The dispatch that brings the total to N calls
 *                 scx_bpf_error("fixture: error after N dispatches").
 * degrade_pct P   Unfair without stalling: the tasks of "slow" thread groups
 *                 go on a second, "slow" DSQ with a slice shortened to
 *                 (100-P)% of the normal one (at least 1 ms). A CPU looking
 *                 for work rolls a 0-99 die: below P it serves the shared DSQ
 *                 first and, if that is empty, keeps running a runnable
 *                 non-slow prev before it touches the slow DSQ; otherwise it
 *                 serves the slow DSQ first. A starvation guard overrides the
 *                 die: when the head of either DSQ has waited more than
 *                 starve_ns (50 ms), the DSQ whose head waited longer is
 *                 served first, so every task runs at least every ~50 ms plus
 *                 one slice.
 *
 *                 Which groups are slow: alternating user thread groups in
 *                 creation order. ops.enable of a task that was forked while
 *                 this scheduler was loaded (ops.init_task with args->fork),
 *                 that leads its thread group (pid == tgid) and that is not a
 *                 kernel thread (PF_KTHREAD) takes the next value n of the
 *                 global counter nr_groups (1, 2, 3, ...) and records it in
 *                 the groups map under its tgid; the group is slow iff n is
 *                 odd. Every task of a user thread group (threads too) is
 *                 looked up by tgid. Groups without an entry (created before
 *                 the scheduler loaded, or evicted from the LRU map) and
 *                 kernel threads are never slow. The entry goes when the
 *                 leader's task_struct is freed (ops.exit_task) unless the
 *                 tgid has been reused by then. Groups are counted, and
 *                 recorded, only with P > 0.
 *
 * pile_cpu C      (-1: off) Everything on one CPU's local DSQ. Every user
 *                 task (no PF_KTHREAD) whose cpumask allows C is dispatched
 *                 by ops.enqueue to C's local DSQ (SCX_DSQ_LOCAL_ON | C, at
 *                 the tail), never anywhere else, and ops.select_cpu
 *                 returns C for it (no direct dispatch). The kernel moves a
 *                 task enqueued on another CPU's runqueue to C (a task with
 *                 migration disabled there goes on its own CPU's local DSQ
 *                 once and moves at its next enqueue). Kernel threads are
 *                 scheduled as without the knob (shared DSQ, FIFO), except
 *                 those that may run on C only (nr_cpus_allowed == 1:
 *                 kworker/C:*, ksoftirqd/C, ...): C's local DSQ never
 *                 empties, so C never serves the shared DSQ and they would
 *                 starve there; they go on C's local DSQ too, at its head
 *                 when they wake up. User tasks whose cpumask excludes C
 *                 are scheduled as without the knob. With N runnable user
 *                 tasks, C's rq->nr_running is about N and its local DSQ
 *                 holds about N-1, while the other CPUs run kernel threads
 *                 or idle.
 *
 *                 The local DSQ is FIFO, so every task runs once per round
 *                 of all of them. A task that joins D others gets the
 *                 normal slice while D+1 slices fit in PILE_ROUND_NS (1 s),
 *                 else 1 s / (D+1), at least 1 ms: a round stays near 1 s
 *                 (measured under TCG: up to ~2 s) up to ~1000 runnable
 *                 tasks, under the watchdog and the harness's gap limit.
 *                 It matters: 60 worker processes make 150-270 runnable
 *                 tasks on C (their Go runtime threads and the harness's
 *                 count too), whose rounds at 20 ms would take 3-5 s.
 *                 Statistics: nr_piled, and at each tick on C the largest
 *                 rq->nr_running (pile_nr_max) and local DSQ depth
 *                 (pile_dsq_max) of C seen so far.
 *
 * pile_cpu and stall_cpu: a task put on the shared DSQ kicks an idle CPU
 * allowed to run it (pile_cpu never serves that DSQ, and stall_cpu may be
 * the only idle CPU).
 *
 * stall_cpu C     (-1: off) C's runqueue clock stands still while it has a
 *                 runnable task. Each time ops.dispatch runs on C with a
 *                 prev that is still runnable (its slice ran out, so C's
 *                 local DSQ is empty and rq->nr_running >= 1) and with no
 *                 RT, deadline or stop task runnable on C, it spins for
 *                 stall_ns (default 1 s, timed with bpf_ktime_get_ns();
 *                 bpf_loop() inside a bounded loop) before going on as
 *                 usual. ops.dispatch runs with C's rq lock held and
 *                 interrupts off: meanwhile no tick, no schedule and no
 *                 wakeup touches rq->clock (it was last set when
 *                 __schedule() began), while C's vCPU burns host CPU. After
 *                 the spin C takes the next task from the shared DSQ (or
 *                 keeps prev, with a new slice, if there is none) and runs
 *                 it for one slice; then the next spin. So the clock stands
 *                 still stall_ns at a time with about one slice (20 ms) of
 *                 normal running in between. A dispatch whose prev went to
 *                 sleep, or with no prev (C idle), does not spin.
 *
 *                 The knob keeps tasks off C so that other CPUs need C's rq
 *                 lock (and wait for the spin to end) as seldom as this
 *                 scheduler can arrange: ops.select_cpu never returns C
 *                 for a task that may run elsewhere unless C is idle (a
 *                 task gets there only by waking onto idle C, or by C
 *                 taking it from the shared DSQ), and ops.enqueue of a task
 *                 on C's runqueue that may run elsewhere dispatches it to
 *                 another allowed online CPU's local DSQ (SCX_DSQ_LOCAL_ON,
 *                 an idle one first; C's side moves it, nr_pushed), so no
 *                 task of C's runqueue sits on the shared DSQ for another
 *                 CPU to pull. Kernel threads that may run on C only, and
 *                 tasks with migration disabled, go on C's local DSQ; user
 *                 tasks pinned to C on the shared DSQ, which only C serves.
 *                 C thus holds one SCX task at a time (rq->nr_running 1
 *                 during the spins). What this scheduler cannot keep off C
 *                 still waits for the current spin on C's rq lock, with
 *                 interrupts off, so that CPU's clock stands still too: RT
 *                 tasks the kernel wakes or pushes onto C (C's SCX task
 *                 makes it the lowest-priority CPU; a SCHED_FIFO process
 *                 such as ktstr's sentinel does this often), tasks pinned
 *                 to C woken from elsewhere, RCU Tasks Trace checking the
 *                 task running on C, the kernel watchdog's per-CPU check,
 *                 a sched_ext dump (SysRq-D), /proc reads of the running
 *                 task's CPU time; TLB shootdowns wait for C's answer with
 *                 interrupts on. (No bpf_cpumask is used here: freeing one
 *                 starts an RCU Tasks Trace grace period.) Each waits at
 *                 most one spin, never for good. Disabling the scheduler
 *                 (SIGINT, or any error) waits for at most one spin: in
 *                 bypass mode ops.dispatch is not called.
 *
 *                 Statistics: nr_spins, spin_ns_total, spin_ns_max,
 *                 nr_clock_moved (spins during which C's rq->clock changed:
 *                 0 unless the knob is broken) and nr_pushed.
 *
 * error_now       Not a knob but a request: user space (--error-on-exit) sets
 *                 it to 1 when told to stop; the next ops.enqueue,
 *                 ops.dispatch or ops.tick to see it sets it to 2 and calls
 *                 scx_bpf_error("fixture: error on exit") once.
 *
 * pile_cpu and stall_cpu exclude each other and stall_after and degrade_pct
 * (user space refuses such combinations): each decides where user tasks go.
 *
 * A "dispatch" is a task handed to a CPU by this scheduler: a successful
 * scx_bpf_consume() in ops.dispatch, a kernel thread moved from the shared
 * DSQ to this CPU's local DSQ by ops.dispatch while stalled, a direct
 * dispatch to an idle CPU's local DSQ in ops.select_cpu, or a direct
 * dispatch to a local DSQ in ops.enqueue (pile_cpu, stall_cpu). Letting the
 * running task go on after its slice (degrade mode, or the kernel's own
 * "nothing else to run" rule) is not one, nor is moving a user task to the
 * stall DSQ.
 *
 * Built for Linux 6.12 (scx_bpf_dispatch/scx_bpf_consume/
 * scx_bpf_dispatch_from_dsq kfunc names).
 */
#include <scx/common.bpf.h>

char _license[] SEC("license") = "GPL";

#define SHARED_DSQ	0
#define SLOW_DSQ	1
#define STALL_DSQ	2	/* stall_after: starved user tasks, never consumed */

#define NSEC_PER_MSEC	1000000ULL

const volatile u64 slice_ns = SCX_SLICE_DFL;
const volatile u64 stall_after;		/* 0: off */
const volatile u64 error_after;		/* 0: off */
const volatile u32 degrade_pct;		/* 0: off, 1-100 */
const volatile u64 starve_ns = 50 * NSEC_PER_MSEC;
const volatile s32 pile_cpu = -1;	/* -1: off */
const volatile s32 stall_cpu = -1;	/* -1: off */
const volatile u64 stall_ns = 1000 * NSEC_PER_MSEC;

/* Statistics, read by user space. */
u64 nr_dispatched;	/* tasks handed to a CPU */
u64 nr_enqueued;	/* ops.enqueue calls */
u64 nr_slow_dispatched;	/* dispatches from the slow DSQ */
u64 nr_guard;		/* dispatch decisions made by the starvation guard */
u64 nr_kept;		/* non-slow prev kept running instead of serving slow */
u64 nr_groups;		/* user thread groups created since load (degrade only) */
u64 nr_stalled;		/* user tasks put on the stall DSQ (stall only) */
u64 nr_piled;		/* tasks dispatched to pile_cpu's local DSQ */
u64 pile_nr_max;	/* largest rq->nr_running of pile_cpu at its ticks */
u64 pile_dsq_max;	/* largest local DSQ depth of pile_cpu at its ticks */
u64 nr_spins;		/* stall_cpu: spins in ops.dispatch */
u64 spin_ns_total;	/* their total duration */
u64 spin_ns_max;	/* the longest one */
u64 nr_clock_moved;	/* spins during which rq->clock changed (bug) */
u64 nr_pushed;		/* tasks sent off stall_cpu's runqueue by ops.enqueue */

/*
 * Set to 1 by user space (--error-on-exit); the BPF side sets it to 2 when it
 * calls scx_bpf_error(). Not const: written after load, through the
 * memory-mapped .bss.
 */
u64 error_now;

/*
 * Dispatch tickets taken before the stall; only used with stall_after, keeps
 * the count of pre-stall dispatches exact.
 */
static u64 nr_reserved;

UEI_DEFINE(uei);

struct task_ctx {
	u64 enq_at;	/* bpf_ktime_get_ns() at the last ops.enqueue */
	u64 group;	/* leader: its nr_groups value, 0 if none */
	bool forked;	/* forked after load, group not counted yet */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

/*
 * tgid -> the group's nr_groups value (odd: slow), for user thread groups
 * created after load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u64);
} groups SEC(".maps");

static __always_inline bool is_slow(const struct task_struct *p)
{
	u32 tgid;
	u64 *n;

	if (!degrade_pct || (p->flags & PF_KTHREAD))
		return false;
	tgid = p->tgid;
	n = bpf_map_lookup_elem(&groups, &tgid);
	return n && (*n & 1);
}

static __always_inline u64 slow_slice(void)
{
	u64 s = slice_ns * (100 - degrade_pct) / 100;

	return s < NSEC_PER_MSEC ? NSEC_PER_MSEC : s;
}

/*
 * Stalled: all stall_after tickets have turned into dispatches. Only ticketed
 * dispatches happen before that, so nr_dispatched reaches stall_after exactly
 * when the last ticket is used; the kernel-thread dispatches after it count
 * on from there.
 */
static __always_inline bool stalled(void)
{
	return stall_after && READ_ONCE(nr_dispatched) >= stall_after;
}

static __always_inline bool is_kthread(const struct task_struct *p)
{
	return p->flags & PF_KTHREAD;
}

/* --error-on-exit: user space asked for the error; raise it once. */
static __always_inline void check_error_now(void)
{
	if (READ_ONCE(error_now) == 1 &&
	    __sync_val_compare_and_swap(&error_now, 1, 2) == 1)
		scx_bpf_error("fixture: error on exit");
}

/*
 * Take a dispatch ticket (before the stall). Returns false once stall_after
 * tickets are out: the stall has begun, or begins as soon as the tickets out
 * are used (or one comes back).
 */
static __always_inline bool reserve(void)
{
	if (!stall_after)
		return true;
	if (__sync_fetch_and_add(&nr_reserved, 1) < stall_after)
		return true;
	__sync_fetch_and_sub(&nr_reserved, 1);
	return false;
}

/* Give back a ticket that did not turn into a dispatch. */
static __always_inline void unreserve(void)
{
	if (stall_after)
		__sync_fetch_and_sub(&nr_reserved, 1);
}

static __always_inline void count_dispatch(void)
{
	u64 n = __sync_add_and_fetch(&nr_dispatched, 1);

	/* n is unique per dispatch, so this fires exactly once. */
	if (error_after && n == error_after)
		scx_bpf_error("fixture: error after %llu dispatches", error_after);
}

/* How long the task at the head of @dsq_id has been queued, 0 if none. */
static u64 head_wait(u64 dsq_id, u64 now)
{
	struct task_struct *p;
	u64 wait = 0;

	bpf_for_each(scx_dsq, p, dsq_id, 0) {
		struct task_ctx *tctx;

		tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
		if (tctx && now > tctx->enq_at)
			wait = now - tctx->enq_at;
		break;
	}
	return wait;
}

/*
 * Whether @p may not move to another CPU now. Not common.bpf.h's
 * is_migration_disabled(): a BPF program runs with migration disabled for
 * the current task, so a count of 1 on current (a prev being enqueued again,
 * a task enqueueing itself) is the program's own. (Later kernels' headers
 * read it this way too.)
 */
static __always_inline bool migration_disabled(const struct task_struct *p)
{
	if (!bpf_core_field_exists(p->migration_disabled))
		return false;
	if (p->migration_disabled == 1)
		return bpf_get_current_task_btf() != p;
	return p->migration_disabled;
}

/*
 * An online CPU other than stall_cpu that @p may run on, an idle one if there
 * is one (then claimed, *idle set), else any; -1 if there is none. The scan
 * starts at a random CPU to spread tasks. No bpf_cpumask: freeing one goes
 * through an RCU Tasks Trace grace period, whose reader scan takes the rq
 * lock of the task running on stall_cpu, and so waits for the spin.
 */
static s32 other_cpu(const struct task_struct *p, bool *idle)
{
	const struct cpumask *online;
	u32 n = scx_bpf_nr_cpu_ids(), first = bpf_get_prandom_u32();
	s32 cpu = -1, any = -1;
	u32 i;

	*idle = false;
	if (!n)
		return -1;
	online = scx_bpf_get_online_cpumask();
	bpf_for(i, 0, n) {
		s32 c = (first + i) % n;

		if (c == stall_cpu || !bpf_cpumask_test_cpu(c, p->cpus_ptr) ||
		    !bpf_cpumask_test_cpu(c, online))
			continue;
		if (scx_bpf_test_and_clear_cpu_idle(c)) {
			cpu = c;
			*idle = true;
			break;
		}
		if (any < 0)
			any = c;
	}
	scx_bpf_put_cpumask(online);
	return cpu >= 0 ? cpu : any;
}

/*
 * pile_cpu: does @p go on pile_cpu's local DSQ? User tasks allowed there,
 * and kernel threads that may run nowhere else.
 */
static __always_inline bool piles(const struct task_struct *p)
{
	if (!bpf_cpumask_test_cpu(pile_cpu, p->cpus_ptr))
		return false;
	return !is_kthread(p) || p->nr_cpus_allowed == 1;
}

/*
 * pile_cpu: the slice of a task that joins @depth others on pile_cpu's local
 * DSQ: the normal slice while a round of all of them fits in PILE_ROUND_NS,
 * else that round split evenly (at least 1 ms). So no piled task waits much
 * longer than PILE_ROUND_NS for its turn, well under the watchdog and the
 * harness's gap limit, up to about 1000 runnable tasks.
 */
#define PILE_ROUND_NS	(1000 * NSEC_PER_MSEC)

static __always_inline u64 pile_slice(s32 depth)
{
	u64 n = depth > 0 ? depth + 1 : 1;
	u64 s = PILE_ROUND_NS / n;

	if (s >= slice_ns)
		return slice_ns;
	return s < NSEC_PER_MSEC ? NSEC_PER_MSEC : s;
}

static void pile(struct task_struct *p, u64 enq_flags)
{
	u64 slice;

	if (scx_bpf_task_cpu(p) != pile_cpu && migration_disabled(p)) {
		/* The kernel may not move it now: next time. */
		scx_bpf_dispatch(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		count_dispatch();
		return;
	}
	/* A pinned kernel thread that wakes up goes first. */
	if (is_kthread(p) && (enq_flags & SCX_ENQ_WAKEUP))
		enq_flags |= SCX_ENQ_HEAD;
	slice = pile_slice(scx_bpf_dsq_nr_queued(SCX_DSQ_LOCAL_ON | pile_cpu));
	scx_bpf_dispatch(p, SCX_DSQ_LOCAL_ON | pile_cpu, slice, enq_flags);
	__sync_fetch_and_add(&nr_piled, 1);
	count_dispatch();
}

/*
 * stall_cpu: ops.enqueue of @p on stall_cpu's runqueue. Returns false when
 * @p is to go on the shared DSQ as usual (a user task pinned to stall_cpu).
 */
static bool stall_cpu_enqueue(struct task_struct *p, u64 enq_flags)
{
	bool idle;
	s32 cpu = -1;

	if (!migration_disabled(p))
		cpu = other_cpu(p, &idle);
	if (cpu >= 0) {
		/* Moved by this CPU now, not pulled by another during a spin. */
		scx_bpf_dispatch(p, SCX_DSQ_LOCAL_ON | cpu, slice_ns, enq_flags);
		__sync_fetch_and_add(&nr_pushed, 1);
		count_dispatch();
		return true;
	}
	if (is_kthread(p) || migration_disabled(p)) {
		scx_bpf_dispatch(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		count_dispatch();
		return true;
	}
	return false;
}

/*
 * pile_cpu and stall_cpu: a task just put on the shared DSQ wakes an idle CPU
 * that may run it, since pile_cpu never serves that DSQ and stall_cpu may be
 * the only CPU left idle.
 */
static __always_inline void kick_idle_for(const struct task_struct *p)
{
	s32 cpu;

	if (pile_cpu < 0 && stall_cpu < 0)
		return;
	cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (cpu >= 0)
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
}

/*
 * No task of a higher class (RT, deadline, stop) is runnable on @cpu: one
 * would run right after this dispatch, and a spin would keep it waiting
 * (and whoever pulls RT tasks from @cpu waiting for its rq lock).
 */
static __always_inline bool only_scx_runnable(s32 cpu)
{
	struct rq *rq = scx_bpf_cpu_rq(cpu);

	return rq && rq->nr_running == rq->scx.nr_running;
}

struct spin_ctx {
	u64 deadline;
};

/* Reads the time only every 1024 iterations: the loop itself is the spin. */
static long spin_cb(u64 i, void *data)
{
	struct spin_ctx *sc = data;

	return !(i & 1023) && bpf_ktime_get_ns() >= sc->deadline;
}

/*
 * stall_cpu: burn stall_ns on @cpu, with its rq lock held and interrupts off
 * (we are in ops.dispatch). One bpf_loop() is at most 1 << 23 iterations,
 * which KVM runs in a small fraction of a second: loop over it until the
 * deadline.
 */
static void spin(s32 cpu)
{
	struct spin_ctx sc;
	struct rq *rq = scx_bpf_cpu_rq(cpu);
	u64 start, d, clk = 0;
	int i;

	if (rq)
		clk = rq->clock;
	start = bpf_ktime_get_ns();
	sc.deadline = start + stall_ns;
	bpf_for(i, 0, 1 << 16) {
		bpf_loop(1 << 23, spin_cb, &sc, 0);
		if (bpf_ktime_get_ns() >= sc.deadline)
			break;
	}
	d = bpf_ktime_get_ns() - start;

	__sync_fetch_and_add(&nr_spins, 1);
	__sync_fetch_and_add(&spin_ns_total, d);
	if (d > spin_ns_max)
		spin_ns_max = d;	/* only stall_cpu writes it */
	if (rq && rq->clock != clk)
		__sync_fetch_and_add(&nr_clock_moved, 1);
}

/* pile_cpu: at each of its ticks, its nr_running and local DSQ depth. */
static void observe_pile(s32 me)
{
	struct rq *rq;
	u64 nr, dsq;

	if (me != pile_cpu)
		return;
	rq = scx_bpf_cpu_rq(pile_cpu);
	if (!rq)
		return;
	nr = rq->nr_running;
	dsq = rq->scx.local_dsq.nr;
	if (nr > pile_nr_max)
		pile_nr_max = nr;
	if (dsq > pile_dsq_max)
		pile_dsq_max = dsq;
}

s32 BPF_STRUCT_OPS(fixture_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	if (pile_cpu >= 0 && !is_kthread(p) &&
	    bpf_cpumask_test_cpu(pile_cpu, p->cpus_ptr))
		return pile_cpu;	/* ops.enqueue dispatches it there */

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (stall_cpu >= 0 && cpu == stall_cpu && !is_idle) {
		/* Waking onto busy stall_cpu would lock its rq mid-spin. */
		s32 other = other_cpu(p, &is_idle);

		if (other >= 0)
			cpu = other;
	}
	if (!is_idle || is_slow(p))
		return cpu;
	if (stalled()) {
		/* Only kernel threads run once stalled; no ticket needed. */
		if (!is_kthread(p))
			return cpu;
	} else if (!reserve()) {
		return cpu;
	}
	scx_bpf_dispatch(p, SCX_DSQ_LOCAL, slice_ns, 0);
	count_dispatch();
	return cpu;
}

void BPF_STRUCT_OPS(fixture_enqueue, struct task_struct *p, u64 enq_flags)
{
	__sync_fetch_and_add(&nr_enqueued, 1);
	check_error_now();

	if (pile_cpu >= 0 && piles(p)) {
		pile(p, enq_flags);
		return;
	}
	if (stall_cpu >= 0 && scx_bpf_task_cpu(p) == stall_cpu &&
	    stall_cpu_enqueue(p, enq_flags))
		return;

	if (stalled() && !is_kthread(p)) {
		__sync_fetch_and_add(&nr_stalled, 1);
		scx_bpf_dispatch(p, STALL_DSQ, slice_ns, enq_flags);
		return;
	}

	if (degrade_pct) {
		struct task_ctx *tctx;

		tctx = bpf_task_storage_get(&task_ctxs, p, 0,
					    BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (tctx)
			tctx->enq_at = bpf_ktime_get_ns();
		if (is_slow(p)) {
			scx_bpf_dispatch(p, SLOW_DSQ, slow_slice(), enq_flags);
			return;
		}
	}
	scx_bpf_dispatch(p, SHARED_DSQ, slice_ns, enq_flags);
	kick_idle_for(p);
}

static void dispatch_degraded(struct task_struct *prev)
{
	u64 now = bpf_ktime_get_ns();
	u64 shared_wait = head_wait(SHARED_DSQ, now);
	u64 slow_wait = head_wait(SLOW_DSQ, now);
	bool slow_first;

	if (shared_wait > starve_ns || slow_wait > starve_ns) {
		slow_first = slow_wait > shared_wait;
		__sync_fetch_and_add(&nr_guard, 1);
	} else {
		slow_first = bpf_get_prandom_u32() % 100 >= degrade_pct;
	}

	if (slow_first) {
		if (scx_bpf_consume(SLOW_DSQ)) {
			__sync_fetch_and_add(&nr_slow_dispatched, 1);
			count_dispatch();
			return;
		}
		if (scx_bpf_consume(SHARED_DSQ)) {
			count_dispatch();
			return;
		}
		unreserve();
		return;
	}

	if (scx_bpf_consume(SHARED_DSQ)) {
		count_dispatch();
		return;
	}
	/*
	 * Nothing fast is waiting. Rather than give the CPU to a slow task,
	 * let a still-runnable fast prev go on for another slice.
	 */
	if (prev && (prev->scx.flags & SCX_TASK_QUEUED) && !is_slow(prev)) {
		prev->scx.slice = slice_ns;
		__sync_fetch_and_add(&nr_kept, 1);
		unreserve();
		return;
	}
	if (scx_bpf_consume(SLOW_DSQ)) {
		__sync_fetch_and_add(&nr_slow_dispatched, 1);
		count_dispatch();
		return;
	}
	unreserve();
}

/*
 * Stalled: give this CPU the first kernel thread of the shared DSQ that may
 * run on it. User tasks met on the way, queued before the stall began, go to
 * the stall DSQ (as does everything on the slow DSQ), so no user task is
 * dispatched after the stall. A kernel thread that may not run here stays
 * for a CPU it may run on, as scx_bpf_consume() would leave it.
 */
static void dispatch_stalled(s32 cpu)
{
	struct task_struct *p;

	if (degrade_pct) {
		/* The slow DSQ only ever holds user tasks. */
		bpf_for_each(scx_dsq, p, SLOW_DSQ, 0) {
			if (scx_bpf_dispatch_from_dsq(BPF_FOR_EACH_ITER, p,
						      STALL_DSQ, 0))
				__sync_fetch_and_add(&nr_stalled, 1);
		}
	}

	bpf_for_each(scx_dsq, p, SHARED_DSQ, 0) {
		if (!is_kthread(p)) {
			if (scx_bpf_dispatch_from_dsq(BPF_FOR_EACH_ITER, p,
						      STALL_DSQ, 0))
				__sync_fetch_and_add(&nr_stalled, 1);
			continue;
		}
		if (!bpf_cpumask_test_cpu(cpu, p->cpus_ptr))
			continue;
		if (scx_bpf_dispatch_from_dsq(BPF_FOR_EACH_ITER, p,
					      SCX_DSQ_LOCAL, 0)) {
			count_dispatch();
			return;
		}
	}
}

void BPF_STRUCT_OPS(fixture_dispatch, s32 cpu, struct task_struct *prev)
{
	check_error_now();

	/* A runnable prev keeps rq->nr_running above 0 during the spin. */
	if (stall_cpu >= 0 && cpu == stall_cpu && prev &&
	    (prev->scx.flags & SCX_TASK_QUEUED) && only_scx_runnable(cpu))
		spin(cpu);

	if (stalled()) {
		dispatch_stalled(cpu);
		return;
	}
	if (!reserve()) {
		/*
		 * All tickets are out but not all used: another CPU is
		 * dispatching the last ones. Come back once it has (the stall
		 * begins) or has given one back, rather than idle with tasks
		 * queued.
		 */
		scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
		return;
	}

	if (degrade_pct) {
		dispatch_degraded(prev);
		return;
	}

	if (scx_bpf_consume(SHARED_DSQ)) {
		count_dispatch();
		return;
	}
	unreserve();
}

/*
 * For --error-on-exit (a CPU busy with one task still ticks) and the
 * pile_cpu statistics.
 */
void BPF_STRUCT_OPS(fixture_tick, struct task_struct *p)
{
	check_error_now();
	if (pile_cpu >= 0)
		observe_pile(bpf_get_smp_processor_id());
}

s32 BPF_STRUCT_OPS(fixture_init_task, struct task_struct *p,
		   struct scx_init_task_args *args)
{
	struct task_ctx *tctx;

	if (!degrade_pct || !args->fork)
		return 0;
	tctx = bpf_task_storage_get(&task_ctxs, p, 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tctx)
		return -ENOMEM;
	tctx->forked = true;
	return 0;
}

/*
 * Counted here rather than in ops.init_task: a fork can still fail after
 * ops.init_task, never after ops.enable. A task is enabled again after each
 * round trip through another sched class; tctx->forked makes it count once.
 */
void BPF_STRUCT_OPS(fixture_enable, struct task_struct *p)
{
	struct task_ctx *tctx;
	u32 tgid;
	u64 n;

	if (!degrade_pct)
		return;
	tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	if (!tctx || !tctx->forked)
		return;
	tctx->forked = false;
	if ((p->flags & PF_KTHREAD) || p->pid != p->tgid)
		return;

	n = __sync_add_and_fetch(&nr_groups, 1);
	tgid = p->tgid;
	if (!bpf_map_update_elem(&groups, &tgid, &n, BPF_ANY))
		tctx->group = n;
}

void BPF_STRUCT_OPS(fixture_exit_task, struct task_struct *p,
		    struct scx_exit_task_args *args)
{
	struct task_ctx *tctx;
	u32 tgid;
	u64 *n;

	if (!degrade_pct)
		return;
	tctx = bpf_task_storage_get(&task_ctxs, p, 0, 0);
	/*
	 * A leader displaced by a thread's exec() no longer has pid == tgid and
	 * its group lives on: keep the entry (it is overwritten if the tgid is
	 * reused, or evicted).
	 */
	if (!tctx || !tctx->group || p->pid != p->tgid)
		return;
	/* The tgid may already belong to a newer group: delete only ours. */
	tgid = p->tgid;
	n = bpf_map_lookup_elem(&groups, &tgid);
	if (n && *n == tctx->group)
		bpf_map_delete_elem(&groups, &tgid);
}

s32 BPF_STRUCT_OPS_SLEEPABLE(fixture_init)
{
	s32 nr_cpus = scx_bpf_nr_cpu_ids();
	s32 ret;

	/* User space checks these against the online CPUs first. */
	if (pile_cpu >= nr_cpus || stall_cpu >= nr_cpus)
		return -EINVAL;

	ret = scx_bpf_create_dsq(SHARED_DSQ, -1);
	if (ret)
		return ret;
	ret = scx_bpf_create_dsq(SLOW_DSQ, -1);
	if (ret)
		return ret;
	return scx_bpf_create_dsq(STALL_DSQ, -1);
}

void BPF_STRUCT_OPS(fixture_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(uei, ei);
}

SCX_OPS_DEFINE(fixture_ops,
	       .select_cpu	= (void *)fixture_select_cpu,
	       .enqueue		= (void *)fixture_enqueue,
	       .dispatch	= (void *)fixture_dispatch,
	       .tick		= (void *)fixture_tick,
	       .enable		= (void *)fixture_enable,
	       .init_task	= (void *)fixture_init_task,
	       .exit_task	= (void *)fixture_exit_task,
	       .init		= (void *)fixture_init,
	       .exit		= (void *)fixture_exit,
	       .name		= "fixture");
