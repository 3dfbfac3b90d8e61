package ktstr

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr/cgroup"
	"github.com/ktstr-go/ktstr/internal/guest"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/verify"
)

// inGuest is set in the guest's test process: the job and the frame writer.
var inGuest *struct {
	job *proto.Job
	out *proto.Writer
}

// InGuest reports whether this process is a test process inside a ktstr
// guest. Code outside the function passed to Run can use it to do host-only
// work.
func InGuest() bool { return inGuest != nil }

// guestMain runs in the guest's test process: go test machinery restricted
// to the one test of the job (PID 1 passes the -test.run flags).
func guestMain(m *testing.M) int {
	job, err := guest.ReadJob()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ktstr:", err)
		return 1
	}
	out, err := guest.ChildWriter()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ktstr:", err)
		return 1
	}
	inGuest = &struct {
		job *proto.Job
		out *proto.Writer
	}{job, out}
	return m.Run()
}

// runInGuest runs fn if this Run call is the one the job names.
func runInGuest(t *testing.T, occurrence int, fn Func) {
	job, out := inGuest.job, inGuest.out
	if t.Name() != job.Test || occurrence != job.Occurrence {
		t.Skipf("ktstr: this VM runs %s (call %d)", job.Test, job.Occurrence)
	}
	ctx, err := newCtx(job, out)
	if err != nil {
		sendResult(t, out, proto.Result{Err: "set up test context: " + err.Error()})
		return
	}
	_ = out.Send(proto.TypeStarted, proto.Started{Uptime: guest.Uptime()})
	start := time.Now()
	res := proto.Result{}
	assert, err, panicked := call(fn, ctx)
	res.Elapsed = time.Since(start)
	if cerr := ctx.Cgroups.Cleanup(); cerr != nil && err == nil && panicked == "" {
		err = fmt.Errorf("remove the test's cgroups: %w", cerr)
	}
	switch {
	case panicked != "":
		res.Panic = panicked
	case err != nil:
		res.Err = err.Error()
	}
	if raw, err := json.Marshal(assert); err == nil {
		res.Assert = raw
	}
	sendResult(t, out, res)
}

func sendResult(t *testing.T, out *proto.Writer, r proto.Result) {
	if err := out.Send(proto.TypeResult, r); err != nil {
		t.Fatalf("ktstr: report result: %v", err)
	}
}

// call runs fn, turning a panic into its value and stack.
func call(fn Func, ctx *Ctx) (res AssertResult, err error, panicked string) {
	defer func() {
		if r := recover(); r != nil {
			panicked = fmt.Sprintf("%v\n\n%s", r, debug.Stack())
		}
	}()
	res, err = fn(ctx)
	return res, err, ""
}

func newCtx(job *proto.Job, out *proto.Writer) (*Ctx, error) {
	obs, err := topology.Read("/sys")
	if err != nil {
		return nil, err
	}
	var checks verify.Config
	if len(job.Checks) > 0 {
		if err := json.Unmarshal(job.Checks, &checks); err != nil {
			return nil, fmt.Errorf("decode checks: %w", err)
		}
	}
	sched := "eevdf"
	if job.Scheduler != nil {
		sched = job.Scheduler.Name
	}
	cg, err := cgroup.New(guest.CgroupRoot + "/ktstr")
	if err != nil {
		return nil, err
	}
	return &Ctx{
		Cgroups:  cg,
		Topology: obs, Shape: job.Topology, Duration: job.Duration, WorkersPerCgroup: job.WorkersPerCgroup,
		Checks: checks, Scheduler: sched, Accel: job.Budget.Accel, Scale: job.Budget.Scale, Replica: job.Replica,
		job: job, out: out,
	}, nil
}
