package guest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/scheduler"
)

// runScheduled runs the test under the job's scheduler: start it, wait for
// it to attach, run the test, and stop it, failing the run if the scheduler
// cannot load, never attaches, dies or leaves sched_ext during the test, or
// does not detach cleanly.
func (s *session) runScheduled() (failure, detail string) {
	sj := s.job.Scheduler
	kmsg := watchKmsg()
	dump := watchDump()
	// The sentinel is ready before the scheduler starts, so it sees the
	// scheduler enabled however fast it stalls.
	sentinel, err := scheduler.StartSentinel(scheduler.OpsNames(sj), sj.WatchdogTimeout, s.reaper.start)
	if err != nil {
		return err.Error(), ""
	}
	p, err := scheduler.Launch(sj, s.reaper.start, os.Stdout)
	if err != nil {
		sentinel.Stop()
		return err.Error(), ""
	}
	schedDetail := func() string {
		time.Sleep(300 * time.Millisecond) // let the kernel's exit messages arrive
		return report(sj.Name, p.Log(), kmsg.Lines(), dump.Lines())
	}
	if err := p.WaitAttached(sentinel); err != nil {
		sentinel.Stop()
		p.Kill()
		d := schedDetail()
		return err.Error() + exitReason(kmsg.Lines()), d
	}
	s.logf("scheduler %s attached at guest uptime %.2fs: %s", sj.Name, Uptime().Seconds(), strings.Join(append([]string{sj.Path}, sj.Args...), " "))
	if err := sentinel.WatchdogErr(); err != nil {
		sentinel.Stop()
		p.Kill()
		return err.Error(), ""
	}
	if sj.BpfMapWrite != nil {
		if err := scheduler.WriteMap(sj.BpfMapWrite); err != nil {
			sentinel.Stop()
			p.Kill()
			return err.Error(), schedDetail()
		}
	}

	failure, detail = s.runTest()
	// The scheduler must have stayed up and attached through the test.
	why := sentinel.Left()
	if how, exited := p.Exited(); exited && why == "" {
		why = "the scheduler process " + how
	}
	sentinel.Stop()
	if why != "" {
		p.Kill()
		d := schedDetail()
		return fmt.Sprintf("scheduler %s failed during the test: %s%s", sj.Name, why, exitReason(kmsg.Lines())), d
	}
	stopErr := p.Stop(10 * time.Second)
	if failure != "" {
		return failure, detail
	}
	if stopErr != nil {
		d := schedDetail()
		return stopErr.Error() + exitReason(kmsg.Lines()), d
	}
	return "", ""
}

var (
	disabledRE = regexp.MustCompile(`sched_ext: BPF scheduler "([^"]*)" disabled \((.*)\)`)
	messageRE  = regexp.MustCompile(`sched_ext: ([^:]+): (.*)`)
)

// exitReason extracts the kernel's sched_ext exit reason and message from
// kernel log lines, as "; kernel: sched_ext disabled it (<reason>): <message>".
func exitReason(kmsg []string) string {
	reason, msg := "", ""
	for _, l := range kmsg {
		if m := disabledRE.FindStringSubmatch(l); m != nil {
			reason = m[2]
			continue
		}
		if m := messageRE.FindStringSubmatch(l); m != nil && reason != "" && msg == "" {
			msg = m[2]
		}
	}
	switch {
	case reason == "":
		return ""
	case msg == "":
		return "; kernel: sched_ext disabled it (" + reason + ")"
	}
	return "; kernel: sched_ext disabled it (" + reason + "): " + msg
}

// report joins the logs that explain a scheduler failure, each cut to a
// size a person reads: the head of the kernel's state dump (exit reason,
// backtrace, the first CPUs), the kernel's sched_ext lines, and last the
// tail of the scheduler's own output.
func report(name string, log, kmsg, dump []string) string {
	var b strings.Builder
	if len(dump) > 0 {
		fmt.Fprintf(&b, "sched_ext dump (first %d of %d lines):\n%s\n", min(len(dump), 30), len(dump), strings.Join(dump[:min(len(dump), 30)], "\n"))
	}
	if len(kmsg) > 0 {
		fmt.Fprintf(&b, "kernel log (sched_ext):\n%s\n", strings.Join(last(kmsg, 15), "\n"))
	}
	fmt.Fprintf(&b, "scheduler %s log (last lines):\n%s", name, strings.Join(last(log, 25), "\n"))
	return b.String()
}

func last(l []string, n int) []string {
	if len(l) > n {
		return l[len(l)-n:]
	}
	return l
}

// applySysctls writes each sysctl ("kernel.sched_rt_runtime_us") under
// /proc/sys, in name order.
func applySysctls(sysctls map[string]string) error {
	for _, k := range sortedKeys(sysctls) {
		path := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(path, []byte(sysctls[k]), 0); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", k, sysctls[k], err)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	k := make([]string, 0, len(m))
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}
