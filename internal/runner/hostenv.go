package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/kernel"
	"github.com/ktstr-go/ktstr/vm"
)

// The environment variables ktstr reads on the host. Settings reads every
// one of them, here and nowhere else in the runner; the kernel package reads
// KTSTR_KERNEL and the cache directory package KTSTR_CACHE_DIR themselves,
// and Settings validates those too.
const (
	EnvKernel       = "KTSTR_KERNEL"        // kernel image, build directory or cache key
	EnvAccel        = "KTSTR_ACCEL"         // kvm or tcg
	EnvQEMU         = "KTSTR_QEMU"          // QEMU binary
	EnvCacheDir     = "KTSTR_CACHE_DIR"     // cache root
	EnvScheduler    = "KTSTR_SCHEDULER"     // scheduler binary or directory
	EnvJobs         = "KTSTR_JOBS"          // VMs at once on the host
	EnvTimeout      = "KTSTR_TIMEOUT"       // host-side limit per VM
	EnvConsole      = "KTSTR_CONSOLE"       // stream the guest console
	EnvResultsDir   = "KTSTR_RESULTS_DIR"   // JSON records
	EnvMonitor      = "KTSTR_MONITOR"       // 0 switches the host-side monitor off
	EnvGauntlet     = "KTSTR_GAUNTLET"      // 1 expands every test over presets, profiles and kernels
	EnvBudget       = "KTSTR_BUDGET_SECS"   // the gauntlet's time budget per test
	EnvShard        = "KTSTR_SHARD"         // i/n: this machine's share of the gauntlet
	EnvShards       = "KTSTR_SHARDS"        // n, with JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)
	EnvOvercommit   = "KTSTR_OVERCOMMIT"    // 1 runs gauntlet presets with more vCPUs than host CPUs under KVM
	EnvList         = "KTSTR_LIST"          // 1: ktstr list's listing mode (nothing boots)
	EnvAutoRepro    = "KTSTR_AUTO_REPRO"    // 0 switches auto-repro off for the whole run
	EnvPerfRequired = "KTSTR_PERF_REQUIRED" // 1: this host must run performance mode (CI fails instead of skipping)
	// EnvJobIndex is set by Kubernetes in the pods of an Indexed Job.
	EnvJobIndex = "JOB_COMPLETION_INDEX"
)

// EnvError is an invalid value of a KTSTR_* variable. It is a mistake of
// whoever set it, never a missing prerequisite: a test fails on it whether
// or not CI is set.
type EnvError struct {
	Var, Value string
	// Problem says what is wrong, Fix what to do.
	Problem, Fix string
}

func (e *EnvError) Error() string {
	return fmt.Sprintf("%s=%q: %s; %s", e.Var, e.Value, e.Problem, e.Fix)
}

// ErrPrerequisite is wrapped by HostEnvironment's error when something the
// host needs to boot a VM is missing (QEMU, a kernel).
var ErrPrerequisite = errors.New("missing prerequisite")

// Settings are the validated KTSTR_* variables.
type Settings struct {
	Accel      string        // "", "kvm" or "tcg"
	QEMU       string        // "" or the QEMU binary asked for
	Kernel     string        // "" or the KTSTR_KERNEL spec
	Jobs       int           // VMs at once on the host
	Timeout    time.Duration // 0, or the host-side limit per VM
	Console    bool
	ResultsDir string // "" or an absolute directory
	// Monitor is whether the host-side monitor samples the guest (default
	// on).
	Monitor bool
	// Gauntlet expands every test (KTSTR_GAUNTLET); Budget bounds each
	// test's gauntlet (0: none); Shard, when Sharded, is this machine's
	// share; Overcommit allows KVM presets above the host's CPU count.
	Gauntlet   bool
	Budget     time.Duration
	Shard      gauntlet.Shard
	Sharded    bool
	Overcommit bool
	// List is ktstr list's mode: Run describes the test and skips it.
	List bool
	// AutoRepro is whether a scheduler's failure reruns with probes
	// (default on; a test's AutoRepro and ExpectErr decide too).
	AutoRepro bool
	// PerfRequired says this host is meant to run performance mode: a
	// performance-mode test it cannot place fails under CI=true instead
	// of skipping.
	PerfRequired bool
}

// ReadSettings reads and validates the KTSTR_* variables. The error joins
// one *EnvError per invalid variable.
func ReadSettings() (Settings, error) {
	s := Settings{Monitor: true, AutoRepro: true}
	var errs []error
	bad := func(v, val, problem, fix string) {
		errs = append(errs, &EnvError{Var: v, Value: val, Problem: problem, Fix: fix})
	}
	if v := os.Getenv(EnvAccel); v != "" {
		if a, err := vm.ParseAccel(strings.TrimSpace(v)); err != nil {
			bad(EnvAccel, v, "not an accelerator", "set it to kvm or tcg, or unset it to choose automatically")
		} else {
			s.Accel = string(a)
		}
	}
	if v := os.Getenv(EnvQEMU); v != "" {
		if _, err := vm.QEMUBinary(v); err != nil {
			bad(EnvQEMU, v, "no such executable", "set it to the path of qemu-system-x86_64, or unset it to use the one on PATH")
		}
		s.QEMU = v
	}
	s.Kernel = os.Getenv(EnvKernel)
	if v := os.Getenv(EnvCacheDir); v != "" && !filepath.IsAbs(v) {
		bad(EnvCacheDir, v, "not an absolute path (go test runs each package in its own directory)", "give an absolute directory")
	}
	if v := os.Getenv(EnvScheduler); v != "" {
		if _, err := os.Stat(v); err != nil {
			bad(EnvScheduler, v, "no such file or directory", "set it to a scheduler binary or a directory of them, or unset it")
		}
	}
	// One VM per two host CPUs, and no more than the memory holds at the
	// default 2 GiB each.
	s.Jobs = max(1, runtime.NumCPU()/2)
	if mem := memAvailableMB(); mem > 0 {
		s.Jobs = max(1, min(s.Jobs, mem/2048))
	}
	if v := os.Getenv(EnvJobs); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 1024 {
			bad(EnvJobs, v, "not a whole number from 1 to 1024", fmt.Sprintf("set it to how many VMs may run at once (default here: %d), or unset it", s.Jobs))
		} else {
			s.Jobs = n
		}
	}
	if v := os.Getenv(EnvTimeout); v != "" {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 || d > 48*time.Hour {
			bad(EnvTimeout, v, "not a positive duration of at most 48h", "set it to a duration such as 90s or 10m, or unset it to use the computed limit")
		} else {
			s.Timeout = d
		}
	}
	if v := os.Getenv(EnvConsole); v != "" {
		on, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			bad(EnvConsole, v, "not a boolean", "set it to 1 to stream the guest console, or unset it")
		}
		s.Console = on
	}
	if v := os.Getenv(EnvMonitor); v != "" {
		on, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			bad(EnvMonitor, v, "not a boolean", "set it to 0 to switch the host-side monitor off, or unset it")
		}
		s.Monitor = on || err != nil
	}
	boolVar := func(name, fix string, dst *bool) {
		if v := os.Getenv(name); v != "" {
			on, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				bad(name, v, "not a boolean", fix)
			}
			*dst = on
		}
	}
	boolVar(EnvAutoRepro, "set it to 0 to switch auto-repro off, or unset it", &s.AutoRepro)
	boolVar(EnvPerfRequired, "set it to 1 on hosts meant to run performance mode, or unset it", &s.PerfRequired)
	boolVar(EnvGauntlet, "set it to 1 to run the gauntlet, or unset it", &s.Gauntlet)
	boolVar(EnvOvercommit, "set it to 1 to run presets with more vCPUs than host CPUs under KVM, or unset it", &s.Overcommit)
	boolVar(EnvList, "unset it (ktstr list sets it)", &s.List)
	if v := os.Getenv(EnvBudget); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 || n > 30*24*3600 {
			bad(EnvBudget, v, "not a whole number of seconds", "set it to the seconds each test's gauntlet may take, or unset it for no budget")
		} else {
			s.Budget = time.Duration(n) * time.Second
		}
	}
	if sh, ok, err := gauntlet.ShardFromEnv(os.Getenv(EnvShard), os.Getenv(EnvShards), os.Getenv(EnvJobIndex)); err != nil {
		bad(EnvShard, os.Getenv(EnvShard)+os.Getenv(EnvShards), err.Error(), "set KTSTR_SHARD=i/n, or KTSTR_SHARDS=n with JOB_COMPLETION_INDEX=i")
	} else {
		s.Shard, s.Sharded = sh, ok
	}
	if v := os.Getenv(EnvResultsDir); v != "" {
		if !filepath.IsAbs(v) {
			bad(EnvResultsDir, v, "not an absolute path (go test runs each package in its own directory)", "give an absolute directory")
		}
		s.ResultsDir = v
	}
	return s, errors.Join(errs...)
}

// HostEnv is what booting a VM needs from the host.
type HostEnv struct {
	Settings
	// Self is the running binary, which becomes the guest's /init.
	Self string
	// QEMUPath is the QEMU binary.
	QEMUPath string
	// Image is the kernel ([kernel.Resolve]); Images every kernel
	// KTSTR_KERNEL names (the gauntlet's kernel dimension), Image first.
	Image  kernel.Image
	Images []kernel.Image
	// Accel is the accelerator chosen, and why.
	Accel vm.Choice
	// HostCPUs is runtime.NumCPU(), MemAvailableMB the host's available
	// memory (/proc/meminfo).
	HostCPUs       int
	MemAvailableMB int
}

// Facts returns the host's facts for the gauntlet's filters, without
// needing QEMU or a kernel: what ktstr list uses.
func Facts(s Settings) (gauntlet.Host, error) {
	accel, err := vm.ChooseAccel(s.Accel)
	if err != nil {
		return gauntlet.Host{}, err
	}
	return gauntlet.Host{Accel: string(accel.Accel), CPUs: runtime.NumCPU(), MemAvailableMB: memAvailableMB(), Overcommit: s.Overcommit}, nil
}

// memAvailableMB reads MemAvailable from /proc/meminfo (0 when unknown).
func memAvailableMB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// HostEnvironment reads the settings and finds what booting a VM needs, in
// this order: the running binary, QEMU, the kernel and the accelerator. An
// invalid setting is an *EnvError (joined, one per variable); a missing
// prerequisite wraps ErrPrerequisite and says what to install or set.
func HostEnvironment() (HostEnv, error) {
	s, err := ReadSettings()
	if err != nil {
		return HostEnv{}, err
	}
	env := HostEnv{Settings: s, HostCPUs: runtime.NumCPU(), MemAvailableMB: memAvailableMB()}
	if env.Self, err = os.Executable(); err != nil {
		return HostEnv{}, fmt.Errorf("find own executable (the guest's init): %w", err)
	}
	if env.QEMUPath, err = vm.QEMUBinary(s.QEMU); err != nil {
		return HostEnv{}, fmt.Errorf("%w: %w", ErrPrerequisite, err)
	}
	if env.Images, err = kernel.ResolveAll(); err == nil {
		env.Image = env.Images[0]
	}
	if err != nil {
		if s.Kernel != "" {
			return HostEnv{}, &EnvError{Var: EnvKernel, Value: s.Kernel, Problem: err.Error(),
				Fix: "set it to a bzImage, a kernel build directory or a cache key (`ktstr kernel list`), or unset it to use the cached build of the current recipe"}
		}
		return HostEnv{}, fmt.Errorf("%w: %w", ErrPrerequisite, err)
	}
	if env.Accel, err = vm.ChooseAccel(s.Accel); err != nil {
		return HostEnv{}, err
	}
	if s.Accel != "" {
		env.Accel.Reason = EnvAccel + "=" + s.Accel
	}
	return env, nil
}
