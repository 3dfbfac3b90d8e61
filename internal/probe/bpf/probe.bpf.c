/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ktstr's auto-repro probes: what a sched_ext scheduler decided, task by
 * task, up to the moment the kernel ejected it.
 *
 * Every program writes one struct event into the ring buffer "events":
 *
 *   on_exit         kprobe on scx_ops_exit_kind, where the kernel claims the
 *                   exit of the scheduler (6.12 has no exit tracepoint):
 *                   the exit kind, the task that triggered it.
 *   on_fentry,      fentry (or, for a function without BTF, a kprobe) on
 *   on_func         the kernel functions named in the first run's failure
 *                   (its backtrace): the function.
 *   on_dispatch,    fentry on the kfuncs the scheduler calls to place tasks:
 *   on_dispatch_vtime, the task, the DSQ id, the slice, the enqueue flags;
 *   on_consume      fexit: the DSQ consumed and whether a task came of it.
 *   cb_*            fentry (fexit for select_cpu) on the scheduler's own
 *                   struct_ops callbacks, attached at run time to its
 *                   programs: the task, CPU and flags of each callback, and
 *                   select_cpu's choice.
 *
 * User space reads them, keeps the last ones of every task, and reports
 * those of the tasks involved in the failure.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char _license[] SEC("license") = "GPL";

enum event_kind {
	EV_EXIT = 1,
	EV_FUNC = 2,
	EV_DISPATCH = 3,
	EV_DISPATCH_VTIME = 4,
	EV_CONSUME = 5,
	EV_SELECT_CPU = 10,
	EV_ENQUEUE = 11,
	EV_DEQUEUE = 12,
	EV_CB_DISPATCH = 13,
	EV_RUNNABLE = 14,
	EV_RUNNING = 15,
	EV_STOPPING = 16,
	EV_QUIESCENT = 17,
};

struct event {
	u64 ts;		/* bpf_ktime_get_ns() */
	u32 kind;	/* enum event_kind */
	u32 cpu;	/* the CPU the event ran on */
	u32 pid;	/* the task the event is about (0: none) */
	u32 cur;	/* the task running when it happened */
	char comm[16];	/* the comm of pid */
	u64 a[4];	/* per kind, see the Go decoder */
	s64 ret;	/* a return value (select_cpu's CPU, consume's result) */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* For bpf2go -type event. */
const struct event *unused_event __attribute__((unused));

/* Events lost because the ring was full. */
u64 nr_lost;

static __always_inline struct event *reserve(u32 kind)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&nr_lost, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts = bpf_ktime_get_ns();
	e->kind = kind;
	e->cpu = bpf_get_smp_processor_id();
	e->cur = bpf_get_current_pid_tgid();
	return e;
}

/* about fills the task fields of e from p (may be NULL). */
static __always_inline void about(struct event *e, struct task_struct *p)
{
	const struct cpumask *m;

	if (!p)
		return;
	e->pid = BPF_CORE_READ(p, pid);
	BPF_CORE_READ_STR_INTO(&e->comm, p, comm);
	m = BPF_CORE_READ(p, cpus_ptr);
	if (m)
		e->a[3] = BPF_CORE_READ(m, bits[0]);
}

static __always_inline void about_current(struct event *e)
{
	e->pid = e->cur;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
}

SEC("kprobe/scx_ops_exit_kind")
int BPF_KPROBE(on_exit, int kind, s64 exit_code)
{
	struct event *e = reserve(EV_EXIT);

	if (!e)
		return 0;
	about_current(e);
	e->a[0] = kind;
	e->a[1] = exit_code;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("kprobe")
int on_func(struct pt_regs *ctx)
{
	struct event *e = reserve(EV_FUNC);

	if (!e)
		return 0;
	about_current(e);
	e->a[0] = bpf_get_func_ip(ctx);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * The same for kernel functions with BTF, through a trampoline: far cheaper
 * than a kprobe's breakpoint, which matters under emulation. User space
 * loads one copy per function.
 */
SEC("fentry")
int BPF_PROG(on_fentry)
{
	struct event *e = reserve(EV_FUNC);

	if (!e)
		return 0;
	about_current(e);
	e->a[0] = bpf_get_func_ip(ctx);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/scx_bpf_dispatch")
int BPF_PROG(on_dispatch, struct task_struct *p, u64 dsq_id, u64 slice, u64 enq_flags)
{
	struct event *e = reserve(EV_DISPATCH);

	if (!e)
		return 0;
	about(e, p);
	e->a[0] = dsq_id;
	e->a[1] = slice;
	e->a[2] = enq_flags;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fentry/scx_bpf_dispatch_vtime")
int BPF_PROG(on_dispatch_vtime, struct task_struct *p, u64 dsq_id, u64 slice, u64 vtime, u64 enq_flags)
{
	struct event *e = reserve(EV_DISPATCH_VTIME);

	if (!e)
		return 0;
	about(e, p);
	e->a[0] = dsq_id;
	e->a[1] = slice;
	e->a[2] = enq_flags;
	e->ret = vtime;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("fexit/scx_bpf_consume")
int BPF_PROG(on_consume, u64 dsq_id, bool ret)
{
	struct event *e = reserve(EV_CONSUME);

	if (!e)
		return 0;
	e->a[0] = dsq_id;
	e->ret = ret;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * The callback probes. Their section names only say fentry/fexit: user
 * space gives each, at load time, the scheduler's program to attach to.
 * A struct_ops program's one argument is the array of the callback's
 * arguments (as BPF_STRUCT_OPS compiles it), so each reads them from there.
 */

static __always_inline u64 arg(u64 *args, int i)
{
	u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &args[i]);
	return v;
}

static __always_inline int task_event(u32 kind, u64 *args, int flags_arg)
{
	struct event *e = reserve(kind);

	if (!e)
		return 0;
	about(e, (struct task_struct *)arg(args, 0));
	if (flags_arg > 0)
		e->a[0] = arg(args, flags_arg);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* select_cpu(p, prev_cpu, wake_flags) returns the CPU. */
SEC("fexit")
int BPF_PROG(cb_select_cpu, u64 *args)
{
	struct event *e = reserve(EV_SELECT_CPU);
	u64 ret = 0;

	if (!e)
		return 0;
	about(e, (struct task_struct *)arg(args, 0));
	e->a[0] = (s32)arg(args, 1);
	e->a[1] = arg(args, 2);
	bpf_get_func_ret(ctx, &ret);
	e->ret = (s32)ret;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* enqueue(p, enq_flags) */
SEC("fentry")
int BPF_PROG(cb_enqueue, u64 *args)
{
	return task_event(EV_ENQUEUE, args, 1);
}

/* dequeue(p, deq_flags) */
SEC("fentry")
int BPF_PROG(cb_dequeue, u64 *args)
{
	return task_event(EV_DEQUEUE, args, 1);
}

/* dispatch(cpu, prev) */
SEC("fentry")
int BPF_PROG(cb_dispatch, u64 *args)
{
	struct event *e = reserve(EV_CB_DISPATCH);

	if (!e)
		return 0;
	about(e, (struct task_struct *)arg(args, 1));
	e->a[0] = (s32)arg(args, 0);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* runnable(p, enq_flags) */
SEC("fentry")
int BPF_PROG(cb_runnable, u64 *args)
{
	return task_event(EV_RUNNABLE, args, 1);
}

/* running(p) */
SEC("fentry")
int BPF_PROG(cb_running, u64 *args)
{
	return task_event(EV_RUNNING, args, 0);
}

/* stopping(p, runnable) */
SEC("fentry")
int BPF_PROG(cb_stopping, u64 *args)
{
	return task_event(EV_STOPPING, args, 1);
}

/* quiescent(p, deq_flags) */
SEC("fentry")
int BPF_PROG(cb_quiescent, u64 *args)
{
	return task_event(EV_QUIESCENT, args, 1);
}
