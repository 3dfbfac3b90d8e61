// Package runner boots one job in a VM: it packs the initramfs (the init
// binary, extra files, the job), starts QEMU through package vm, reads the
// guest's frames as they come and classifies how the run ended. The root
// package's Run and the ktstr command both use it.
package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/ktstr-go/ktstr/initramfs"
	"github.com/ktstr-go/ktstr/internal/cachedir"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/topology"
	"github.com/ktstr-go/ktstr/vm"
)

// File is a host file to pack into the guest.
type File struct {
	Guest string // absolute guest path
	Host  string
	// Binary packs the file's shared libraries and ELF interpreter too.
	Binary bool
}

// Spec is one VM run.
type Spec struct {
	Job proto.Job
	// Init is the host binary that becomes the guest's /init.
	Init  string
	Files []File
	// Kernel is the kernel image; KernelArgs extend its command line.
	Kernel     string
	KernelArgs []string
	Accel      vm.Accel
	Timeout    time.Duration
	// Console, if set, receives each console line as it arrives.
	Console func(line string)
	// Frame, if set, receives each frame as it arrives.
	Frame func(at time.Time, f proto.Envelope)
}

// Outcome is everything a run produced.
type Outcome struct {
	VM      vm.Result
	Hello   *proto.Hello
	Result  *proto.Result
	Topo    *topology.Observed
	Done    *proto.Done
	Logs    []string
	Started time.Time // host time the test function started; zero if it never did
	// StartedUptime is the guest's uptime when the test function started.
	StartedUptime time.Duration
	Begin         time.Time // host time Run was called
	End           time.Time // host time QEMU was reaped
	// FrameErr is the first damaged frame, if any.
	FrameErr error
	spec     *Spec
}

// Run boots the VM and waits for it to end. The error reports a run that
// could not be started; how a started run ended is Outcome.Err.
func Run(ctx context.Context, spec Spec) (*Outcome, error) {
	o := &Outcome{Begin: time.Now(), spec: &spec}
	segments, err := initrdSegments(&spec)
	if err != nil {
		return nil, err
	}
	job, err := jobArchive(&spec.Job)
	if err != nil {
		return nil, err
	}
	// VMs of every process on the host share KTSTR_JOBS slots, so that
	// go test ./... (one process per package) does not crowd the CPUs the
	// guests measure with.
	slots, err := cachedir.Sub("slots", true)
	if err != nil {
		return nil, err
	}
	waitStart := time.Now()
	release, err := vm.AcquireSlot(ctx, slots, vm.Slots())
	if err != nil {
		return nil, err
	}
	defer release()
	// Time spent waiting for a slot is not the run's.
	o.Begin = o.Begin.Add(time.Since(waitStart))
	v, err := vm.Start(ctx, vm.Config{
		Kernel:     spec.Kernel,
		Initrd:     segments,
		InitrdData: [][]byte{job},
		Topology:   spec.Job.Topology,
		MemoryMB:   spec.Job.MemoryMB,
		Accel:      spec.Accel,
		Append:     spec.KernelArgs,
		Timeout:    spec.Timeout,
		Console:    spec.Console,
	})
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		o.readFrames(v.Results())
	}()
	res, err := v.Wait()
	wg.Wait()
	o.VM, o.End = res, time.Now()
	if err != nil {
		return o, err
	}
	return o, nil
}

func (o *Outcome) readFrames(r io.Reader) {
	fr := proto.NewReader(r)
	for {
		f, err := fr.Next()
		if err != nil {
			if errors.Is(err, proto.ErrCorrupt) {
				if o.FrameErr == nil {
					o.FrameErr = err
				}
				continue
			}
			// EOF, or the pipe closed under us when QEMU was killed.
			return
		}
		now := time.Now()
		if err := o.take(now, f); err != nil && o.FrameErr == nil {
			o.FrameErr = err
		}
		if o.spec.Frame != nil {
			o.spec.Frame(now, f)
		}
	}
}

func (o *Outcome) take(at time.Time, f proto.Envelope) error {
	switch f.Type {
	case proto.TypeHello:
		o.Hello = new(proto.Hello)
		return f.Decode(o.Hello)
	case proto.TypeStarted:
		o.Started = at
		var st proto.Started
		if err := f.Decode(&st); err != nil {
			return err
		}
		o.StartedUptime = st.Uptime
	case proto.TypeLog:
		var l proto.Log
		if err := f.Decode(&l); err != nil {
			return err
		}
		o.Logs = append(o.Logs, l.Msg)
	case proto.TypeResult:
		o.Result = new(proto.Result)
		return f.Decode(o.Result)
	case proto.TypeTopo:
		o.Topo = new(topology.Observed)
		return f.Decode(o.Topo)
	case proto.TypeDone:
		o.Done = new(proto.Done)
		return f.Decode(o.Done)
	}
	return nil
}

// jobArchive is a small newc archive holding the job.
func jobArchive(job *proto.Job) ([]byte, error) {
	raw, err := json.MarshalIndent(job, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode job: %w", err)
	}
	b := initramfs.New()
	b.AddBytes(proto.JobPath, raw, 0o644)
	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("job archive: %w", err)
	}
	return buf.Bytes(), nil
}

// initrdSegments returns the cached archives of the init binary and of the
// extra files.
func initrdSegments(spec *Spec) ([]string, error) {
	base, err := cachedArchive([]File{{Guest: "/init", Host: spec.Init, Binary: true}})
	if err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	segs := []string{base}
	if len(spec.Files) > 0 {
		extra, err := cachedArchive(spec.Files)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		segs = append(segs, extra)
	}
	return segs, nil
}

// memo remembers archives built by this process, keyed by the files' paths,
// sizes and modification times, so parallel and repeated VMs of one test
// binary hash it once.
var memo sync.Map // string -> *memoEntry

type memoEntry struct {
	once sync.Once
	path string
	err  error
}

func cachedArchive(files []File) (string, error) {
	key, err := statKey(files)
	if err != nil {
		return "", err
	}
	e, _ := memo.LoadOrStore(key, &memoEntry{})
	me := e.(*memoEntry)
	me.once.Do(func() {
		b := initramfs.New()
		for _, f := range files {
			var err error
			if f.Binary {
				err = b.AddBinary(f.Guest, f.Host)
			} else {
				err = b.AddFile(f.Guest, f.Host)
			}
			if err != nil {
				me.err = err
				return
			}
		}
		me.path, me.err = b.Cached("")
	})
	return me.path, me.err
}

func statKey(files []File) (string, error) {
	var b bytes.Buffer
	for _, f := range files {
		st, err := os.Stat(f.Host)
		if err != nil {
			return "", fmt.Errorf("pack %s: %w", f.Host, err)
		}
		fmt.Fprintf(&b, "%s\x00%s\x00%v\x00%d\x00%d\n", f.Guest, f.Host, f.Binary, st.Size(), st.ModTime().UnixNano())
	}
	return b.String(), nil
}

// Phases describes where the time to the test function went: QEMU and
// firmware before the kernel started, the kernel's boot to init, and init's
// set-up (scheduler attach included) to the test function.
func (o *Outcome) Phases() string {
	if o.Started.IsZero() || o.Hello == nil {
		return ""
	}
	toFn := o.Started.Sub(o.Begin)
	beforeKernel := toFn - o.StartedUptime
	return fmt.Sprintf("host+QEMU before the kernel %.2fs, kernel boot to init %.2fs, init to test function %.2fs",
		beforeKernel.Seconds(), o.Hello.Uptime.Seconds(), (o.StartedUptime - o.Hello.Uptime).Seconds())
}
