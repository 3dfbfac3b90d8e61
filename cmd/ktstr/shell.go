package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/ktstr-go/ktstr/internal/guest"
	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/scheduler"
	"github.com/ktstr-go/ktstr/topology"
)

// shellOptions are ktstr shell's flags.
type shellOptions struct {
	topology  string
	scheduler string
	kernel    string
	memoryMB  int
	include   []string
	exec      string
	watchdogS int
}

func shellCmd() *cobra.Command {
	var o shellOptions
	c := &cobra.Command{
		Use:   "shell [flags] [-- SCHEDULER-ARGS...]",
		Short: "Boot the guest a test would get and open a shell on its console (or run one command)",
		Long: `Boot the same guest a test would get (kernel, topology, memory, the scheduler
attached, include files with their shared libraries) and give an interactive
shell on this terminal: job control works, and the guest's terminal has this
terminal's size (at start; a later resize is not passed on). Exit the shell to
power the guest off. With --exec, run one command instead and exit with its
status. The shell tools come from the host's busybox (Debian: apt-get install
busybox-static); the scheduler is /ktstr/sched/<name> in the guest, include
files are under /include-files.`,
		RunE: func(cmd *cobra.Command, args []string) error { return runShell(cmd, o, args) },
	}
	f := c.Flags()
	f.StringVar(&o.topology, "topology", "1n1l2c1t", "guest topology, <numa>n<llcs>l<cores>c<threads>t")
	f.StringVar(&o.scheduler, "scheduler", "", "sched_ext scheduler to attach: a name found like ktstr.Discover, or a path (default: none, EEVDF)")
	f.StringVar(&o.kernel, "kernel", "", "kernel image, build directory or cache key (default: KTSTR_KERNEL, else the cached build)")
	f.IntVar(&o.memoryMB, "memory-mb", 2048, "guest memory in MB")
	f.StringArrayVar(&o.include, "include", nil, "host file to put in the guest under /include-files (with its shared libraries); repeatable")
	f.StringVar(&o.exec, "exec", "", "run this command with the guest's sh -c and exit with its status")
	f.IntVar(&o.watchdogS, "watchdog-s", 4, "sched_ext watchdog timeout in seconds, as WatchdogTimeoutS")
	return c
}

// busyboxPaths are where a host's busybox may be.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// shellPlan builds the plan of o: a KindShell guest of the topology, the
// scheduler (with args) and the include files, busybox among them.
func shellPlan(o shellOptions, args []string, sh proto.ShellJob) (*plan.Plan, error) {
	topo, err := topology.Parse(o.topology)
	if err != nil {
		return nil, fmt.Errorf("--topology: %w", err)
	}
	if err := topo.ValidateMemory(o.memoryMB); err != nil {
		return nil, fmt.Errorf("--memory-mb: %w", err)
	}
	p := &plan.Plan{Kind: proto.KindShell, Topology: topo, MemoryMB: o.memoryMB, Replicas: 1, SchedulerName: "eevdf", Shell: &sh,
		// The console is the shell's: only the kernel's emergencies on it.
		KernelArgs: []string{"loglevel=1"}}
	bb := ""
	for _, c := range busyboxPaths {
		if _, err := os.Stat(c); err == nil {
			bb = c
			break
		}
	}
	if bb == "" {
		return nil, errors.New("no busybox on this host for the guest's shell tools: install one (Debian: apt-get install busybox-static)")
	}
	p.Include = append(p.Include, plan.File{Guest: guest.BusyboxPath, Host: bb, Binary: true})
	for _, f := range o.include {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(abs); err != nil || st.IsDir() {
			return nil, fmt.Errorf("--include %s: not a file", f)
		}
		p.Include = append(p.Include, plan.File{Guest: "/include-files/" + filepath.Base(abs), Host: abs, Binary: true})
	}
	if o.scheduler == "" {
		if len(args) > 0 {
			return nil, errors.New("scheduler arguments after -- need --scheduler")
		}
		return p, nil
	}
	b := scheduler.Discover(o.scheduler)
	if strings.Contains(o.scheduler, "/") {
		b = scheduler.Path(o.scheduler)
	}
	bin, err := b.Resolve()
	if err != nil {
		return nil, fmt.Errorf("--scheduler %s: %w", o.scheduler, err)
	}
	name := filepath.Base(bin)
	p.SchedulerName = name
	p.Scheduler = &plan.Scheduler{Name: name, OpsNames: []string{strings.TrimPrefix(name, "scx_"), name}, Binary: bin,
		GuestPath: path.Join("/ktstr/sched", name), Args: args, Profile: "default", Watchdog: time.Duration(o.watchdogS) * time.Second}
	return p, nil
}

func runShell(cmd *cobra.Command, o shellOptions, args []string) error {
	if o.kernel != "" {
		os.Setenv(runner.EnvKernel, o.kernel)
	}
	interactive := o.exec == ""
	inTTY := term.IsTerminal(int(os.Stdin.Fd()))
	if interactive && !inTTY {
		return errors.New("an interactive shell needs a terminal on standard input: run it in one, or give --exec CMD")
	}
	sh := proto.ShellJob{Exec: o.exec, Rows: 24, Cols: 80, Term: os.Getenv("TERM")}
	if inTTY {
		if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil && w > 0 && h > 0 {
			sh.Rows, sh.Cols = h, w
		}
	}
	p, err := shellPlan(o, args, sh)
	if err != nil {
		return err
	}
	host, err := runner.HostEnvironment()
	if err != nil {
		return err
	}
	// QEMU gets the slave side of a pty: a terminal it puts in raw mode,
	// which is not this process's controlling terminal (QEMU runs in a
	// process group of its own). This side copies between it and ours.
	ptm, pts, err := pty.Open()
	if err != nil {
		return fmt.Errorf("open a pty: %w", err)
	}
	defer ptm.Close()
	// Raw, and without ONLCR: QEMU turns OPOST back on for its stdio, and
	// the guest's terminal already ends lines with CR LF.
	if _, err := term.MakeRaw(int(pts.Fd())); err != nil {
		return fmt.Errorf("raw pty: %w", err)
	}
	if t, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS); err == nil {
		t.Oflag &^= unix.ONLCR
		_ = unix.IoctlSetTermios(int(pts.Fd()), unix.TCSETS, t)
	}
	if inTTY {
		old, err := term.MakeRaw(int(os.Stdin.Fd()))
		if err != nil {
			return fmt.Errorf("raw terminal: %w", err)
		}
		defer term.Restore(int(os.Stdin.Fd()), old)
	}
	stderr := cmd.ErrOrStderr()
	eol := "\n"
	if inTTY {
		eol = "\r\n" // the terminal is raw
	}
	fmt.Fprintf(stderr, "ktstr shell: booting %s (%d vCPUs, %d MB), scheduler %s, kernel %s, accel %s%s"+eol,
		p.Topology, p.Topology.CPUs(), p.MemoryMB, p.SchedulerName, host.Image.BzImage, host.Accel.Accel, exitHint(interactive))
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		out := &shellOutput{w: cmd.OutOrStdout(), crlf: !term.IsTerminal(int(os.Stdout.Fd()))}
		_, _ = io.Copy(out, ptm)
	}()
	if inTTY {
		go func() { _, _ = io.Copy(ptm, os.Stdin) }()
	}
	// Ctrl-C goes to the guest (the terminal is raw); a signal to this
	// process still stops the VM (runner.Run's context).
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	hooks := runner.Hooks{Terminal: pts}
	if inTTY {
		hooks.Resize = followResize(ctx, int(os.Stdin.Fd()))
	}
	out, err := runner.Run(ctx, host, p, runner.RunID{Test: "ktstr-shell"}, hooks)
	pts.Close()
	// The guest's last output, then EOF once nobody holds the slave.
	<-copied
	if err != nil {
		return err
	}
	if out.Done != nil && out.Done.Shell != nil && out.Done.Failure == nil {
		if s := out.Done.Shell.Status; s != 0 {
			return exitCode(s)
		}
		return nil
	}
	if f := out.Failure(); f != nil {
		return fmt.Errorf("%v", f)
	}
	return errors.New("the guest ended without the shell's status")
}

func exitHint(interactive bool) string {
	if interactive {
		return "; exit the shell to power it off"
	}
	return ""
}

// shellOutput is the console as the user sees it: from just after
// proto.ShellMarker (the boot messages before it are not the shell's) to
// proto.ShellEndMarker (nor the power-off after it).
type shellOutput struct {
	w        io.Writer
	crlf     bool // turn CR LF into LF (for a file or a pipe)
	buf      []byte
	started  bool
	finished bool
}

func (s *shellOutput) Write(b []byte) (int, error) {
	if s.finished {
		return len(b), nil
	}
	s.buf = append(s.buf, b...)
	if !s.started {
		i := bytes.Index(s.buf, []byte(proto.ShellMarker))
		if i < 0 {
			if keep := len(proto.ShellMarker); len(s.buf) > keep {
				s.buf = append(s.buf[:0], s.buf[len(s.buf)-keep:]...)
			}
			return len(b), nil
		}
		s.started, s.buf = true, s.buf[i+len(proto.ShellMarker):]
	}
	if i := bytes.Index(s.buf, []byte(proto.ShellEndMarker)); i >= 0 {
		s.finished, s.buf = true, s.buf[:i]
		return len(b), s.flush(len(s.buf))
	}
	// Hold back what may be the start of the end marker, or a CR whose LF
	// has not come yet.
	hold := 0
	for n := min(len(s.buf), len(proto.ShellEndMarker)-1); n > 0; n-- {
		if bytes.HasPrefix([]byte(proto.ShellEndMarker), s.buf[len(s.buf)-n:]) {
			hold = n
			break
		}
	}
	if hold == 0 && s.crlf && len(s.buf) > 0 && s.buf[len(s.buf)-1] == '\r' {
		hold = 1
	}
	return len(b), s.flush(len(s.buf) - hold)
}

func (s *shellOutput) flush(n int) error {
	out := s.buf[:n]
	if s.crlf {
		out = bytes.ReplaceAll(out, []byte("\r\n"), []byte("\n"))
	}
	_, err := s.w.Write(out)
	s.buf = append(s.buf[:0], s.buf[n:]...)
	return err
}

// followResize sends the terminal fd's size each time it changes
// (SIGWINCH) until ctx ends; a size not yet taken is replaced by the newer.
func followResize(ctx context.Context, fd int) <-chan proto.Winsize {
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	sizes := make(chan proto.Winsize, 1)
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
			}
			w, h, err := term.GetSize(fd)
			if err != nil || w <= 0 || h <= 0 {
				continue
			}
			select {
			case <-sizes: // the guest has not taken the last one: drop it
			default:
			}
			sizes <- proto.Winsize{Rows: h, Cols: w}
		}
	}()
	return sizes
}
