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
 * error_now       Not a knob but a request: user space (--error-on-exit) sets
 *                 it to 1 when told to stop; the next ops.enqueue,
 *                 ops.dispatch or ops.tick to see it sets it to 2 and calls
 *                 scx_bpf_error("fixture: error on exit") once.
 *
 * A "dispatch" is a task handed to a CPU by this scheduler: a successful
 * scx_bpf_consume() in ops.dispatch, a kernel thread moved from the shared
 * DSQ to this CPU's local DSQ by ops.dispatch while stalled, or a direct
 * dispatch to an idle CPU's local DSQ in ops.select_cpu. Letting the running
 * task go on after its slice (degrade mode, or the kernel's own "nothing else
 * to run" rule) is not one, nor is moving a user task to the stall DSQ.
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

/* Statistics, read by user space. */
u64 nr_dispatched;	/* tasks handed to a CPU */
u64 nr_enqueued;	/* ops.enqueue calls */
u64 nr_slow_dispatched;	/* dispatches from the slow DSQ */
u64 nr_guard;		/* dispatch decisions made by the starvation guard */
u64 nr_kept;		/* non-slow prev kept running instead of serving slow */
u64 nr_groups;		/* user thread groups created since load (degrade only) */
u64 nr_stalled;		/* user tasks put on the stall DSQ (stall only) */

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

s32 BPF_STRUCT_OPS(fixture_select_cpu, struct task_struct *p, s32 prev_cpu,
		   u64 wake_flags)
{
	bool is_idle = false;
	s32 cpu;

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
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

/* Only for --error-on-exit: a CPU busy with one task still ticks. */
void BPF_STRUCT_OPS(fixture_tick, struct task_struct *p)
{
	check_error_now();
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
	s32 ret;

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
