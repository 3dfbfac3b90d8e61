package scheduler

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file checks a Scheduler's KernelArgs and Sysctls against what the
// harness needs from the guest kernel. References are to the Linux 6.12
// tree: Documentation/admin-guide/kernel-parameters.txt (the parameters),
// kernel/params.c (parse_args, parameq), init/main.c (the boot-time
// parsing), lib/cmdline.c (next_arg) and fs/proc/proc_sysctl.c
// (process_sysctl_arg, the sysctl.<name>=<value> parameters).
//
// How the kernel reads the command line, and what follows for the checks:
//
//   - next_arg splits at isspace() outside double quotes. The kernel's
//     isspace (lib/ctype.c) is ' ', \t, \n, \v, \f, \r and also 0xa0, and a
//     '"' starts a quoted run that may hold spaces, so one element could
//     carry, or swallow, several parameters. Elements are therefore plain
//     printable ASCII without spaces or quotes.
//   - Names compare with parameq/parameqn, which treat '-' and '_' alike
//     (dash2underscore), so "panic-on-oops" is "panic_on_oops". __setup()
//     handlers match their string as a prefix (obsolete_checksetup uses
//     parameqn over strlen(str)): a __setup string without '=' such as
//     "noinitrd" also catches "noinitrd_x". Matching is case-sensitive, but
//     case variants are refused too: they are never what was meant.
//   - Everything after "--" is passed to init as arguments (parse_args
//     stops there, set_init_arg), and an unknown parameter without a '.'
//     is handed to init as well, as an environment variable (NAME=value)
//     or an argument (unknown_bootoption). The guest's init is the test
//     binary, so a leading '-' (a flag for it) and upper-case names (an
//     environment variable such as KTSTR_ROLE or GOTRACEBACK) are refused.
//   - Since Linux 5.8, "sysctl.<name>=<value>" (also "sysctl/<name>") is
//     written to /proc/sys/<name> with every '.' turned into '/' before init
//     runs (do_sysctl_args). Such parameters are checked like Sysctls.
//   - The x86 command line holds COMMAND_LINE_SIZE (2048) bytes and the
//     rest is cut off silently, possibly inside a parameter; the harness's
//     own parameters come first, so KernelArgs are limited to
//     MaxKernelArgsLen.

// MaxKernelArgsLen is the longest KernelArgs may be, joined with spaces.
// The x86 kernel keeps 2048 bytes of command line (COMMAND_LINE_SIZE) and
// drops the rest without a word, possibly in the middle of a parameter;
// the harness's own parameters take about 200 bytes and come first.
const MaxKernelArgsLen = 1024

// rule is why a reserved name is refused and what to do instead.
type rule struct {
	why, fix string
}

var (
	ruleConsole  = rule{"the harness owns the serial console (its verdict reads the guest's output on ttyS0)", "remove it"}
	ruleUART     = rule{"the harness relies on exactly one 8250 UART, ttyS0, as the console", "remove it"}
	ruleInit     = rule{"the harness owns the guest's init and initramfs (rdinit=/init runs the test binary as PID 1)", "remove it"}
	rulePanic    = rule{"the harness sets panic/oops handling itself (the verdict relies on a panic ending the guest)", "remove it"}
	ruleLog      = rule{"the harness needs panics and oopses on the console in full (the verdict reads them there)", "remove it (ignore_loglevel and debug, which only add output, are allowed)"}
	ruleKASLR    = rule{"KASLR stays off (nokaslr): a host-side monitor reads guest memory at the kernel's link-time addresses", "remove it"}
	ruleWatchdog = rule{"the harness sets the sched_ext watchdog timeout itself", "remove it and set Test.WatchdogTimeoutS"}
	ruleSysRq    = rule{"the harness may trigger SysRq dumps", "remove it (sysrq_always_enabled is allowed)"}
)

// reservation is a name the harness owns. name is normalized: lower case,
// '-' as '_', and for sysctls '.' between non-empty components.
type reservation struct {
	name   string
	prefix bool // every name that starts with name is reserved too
	rule
}

// reservedParams are the kernel parameters the harness sets or relies on.
// Everything else may be passed.
var reservedParams = []reservation{
	// Console. console= is __setup("console=") in kernel/printk/printk.c
	// and also reaches the earlycon handlers (do_early_param);
	// earlycon= is an early_param in drivers/tty/serial/earlycon.c and
	// earlyprintk= one in arch/x86/kernel/early_printk.c (the x86 boot
	// stub reads it too).
	{name: "console", rule: ruleConsole},
	{name: "earlycon", rule: ruleConsole},
	{name: "earlyprintk", rule: ruleConsole},
	// nr_uarts is a module_param of the built-in 8250 driver
	// (drivers/tty/serial/8250/8250_platform.c); with
	// CONFIG_SERIAL_8250_DEPRECATED_OPTIONS it is also spelled
	// 8250_core.nr_uarts. 8250.nr_uarts=0 leaves no ttyS0.
	{name: "8250.nr_uarts", rule: ruleUART},
	{name: "8250_core.nr_uarts", rule: ruleUART},

	// Init and initramfs. init= and rdinit= are __setup in init/main.c;
	// root= (init/do_mounts.c) is what the kernel mounts when rdinit
	// fails; noinitrd (__setup without '=', so a prefix) and initrd= /
	// initrdmem= (early_param, init/do_mounts_initrd.c) drop or replace
	// the initramfs QEMU loads; bootconfig (init/main.c) reads further
	// parameters and init arguments from the end of the initramfs.
	// retain_initrd only keeps the initramfs memory and is allowed.
	{name: "init", rule: ruleInit},
	{name: "rdinit", rule: ruleInit},
	{name: "root", rule: ruleInit},
	{name: "noinitrd", prefix: true, rule: ruleInit},
	{name: "initrd", rule: ruleInit},
	{name: "initrdmem", rule: ruleInit},
	{name: "bootconfig", rule: ruleInit},

	// Panic and oops. panic=, panic_on_warn=, panic_print= and
	// pause_on_oops= are core_params in kernel/panic.c (panic=0 waits
	// forever instead of rebooting; pause_on_oops= holds the CPUs after an
	// oops), oops=panic its early_param. panic_on_oops is only a sysctl
	// in 6.12; as a parameter the kernel would hand it to init, so it is
	// refused rather than silently ignored. panic_on_taint= (early_param,
	// kernel/panic.c) makes a taint, such as a WARN's, fatal, as
	// panic_on_warn does. reboot= (__setup, kernel/reboot.c) picks how the
	// guest resets after panic=-1, which QEMU's -no-reboot turns into its
	// exit.
	{name: "panic", rule: rulePanic},
	{name: "oops", rule: rulePanic},
	{name: "panic_on_oops", rule: rulePanic},
	{name: "panic_on_warn", rule: rulePanic},
	{name: "panic_on_taint", rule: rulePanic},
	{name: "panic_print", rule: rulePanic},
	{name: "pause_on_oops", rule: rulePanic},
	{name: "reboot", rule: rulePanic},

	// Log levels. loglevel= and quiet are early_params in init/main.c;
	// printk.console_no_auto_verbose (kernel/printk/printk.c) stops an
	// oops or panic from raising the console loglevel. ignore_loglevel
	// and debug only add output and are allowed.
	{name: "loglevel", rule: ruleLog},
	{name: "quiet", rule: ruleLog},
	{name: "printk.console_no_auto_verbose", rule: ruleLog},

	// KASLR. nokaslr is read by the x86 boot stub
	// (arch/x86/boot/compressed/kaslr.c); kaslr is the spelling that
	// turns it on where an architecture has one.
	{name: "kaslr", rule: ruleKASLR},
	{name: "nokaslr", rule: ruleKASLR},

	// The sched_ext watchdog timeout is the harness's (WatchdogTimeoutS):
	// ktstr's kernel patch (kernel/patches) adds this parameter and the
	// guest sets it before the scheduler starts.
	{name: "sched_ext.watchdog_override_ms", rule: ruleWatchdog},
}

// reservedSysctls are the sysctls the harness owns, refused both in
// Sysctls and as sysctl.<name> kernel parameters.
var reservedSysctls = []reservation{
	// kernel/sysctl.c: panic (seconds before reboot; 0 waits forever),
	// panic_on_oops, panic_on_warn, panic_print; kernel/panic.c:
	// warn_limit (panic after that many WARNs: 1 is panic_on_warn).
	{name: "kernel.panic", rule: rulePanic},
	{name: "kernel.panic_on_oops", rule: rulePanic},
	{name: "kernel.panic_on_warn", rule: rulePanic},
	{name: "kernel.panic_print", rule: rulePanic},
	{name: "kernel.warn_limit", rule: rulePanic},
	// kernel/printk/sysctl.c: printk holds the console loglevel.
	{name: "kernel.printk", rule: ruleLog},
	// kernel/sysctl.c: sysrq is the SysRq function mask (0 disables it).
	{name: "kernel.sysrq", rule: ruleSysRq},
	// No sched_ext sysctl exists in 6.12 (its state is under
	// /sys/kernel/sched_ext); any later one is the harness's.
	{name: "kernel.sched_ext", prefix: true, rule: rule{"the harness owns sched_ext's state in the guest", "remove it"}},
}

func (r reservation) matches(name string) bool {
	return name == r.name || r.prefix && strings.HasPrefix(name, r.name)
}

func lookup(list []reservation, name string) (rule, bool) {
	for _, r := range list {
		if r.matches(name) {
			return r.rule, true
		}
	}
	return rule{}, false
}

// normParam is how the kernel compares parameter names ('-' as '_'),
// lower-cased so that case variants are caught too.
func normParam(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), "-", "_")
}

// normSysctl is the name of the /proc/sys file a sysctl name reaches, in
// dotted form: '/' and '.' both separate components (the kernel and
// SysctlPath turn '.' into '/'), empty components vanish as repeated
// slashes do in a path, '-' compares as '_', and case is ignored.
func normSysctl(name string) string {
	parts := strings.FieldsFunc(normParam(name), func(r rune) bool { return r == '.' || r == '/' })
	return strings.Join(parts, ".")
}

// ValidateKernelArgs checks a Scheduler's KernelArgs, the parameters
// appended to the guest kernel command line, one parameter per element.
// It reports every element it refuses, each naming the element, the rule
// and the fix.
//
// An element must be non-empty printable ASCII without spaces or double
// quotes: the kernel splits the line at any whitespace (its isspace: space,
// \t, \n, \v, \f, \r, and 0xa0) outside quotes, so a space would make two
// parameters and a quote could join the following ones to this one. An
// element must not start with '-': everything after "--" goes to the
// guest's init (the test binary) as arguments, and no kernel parameter
// starts with '-'. Together the elements may take at most MaxKernelArgsLen
// bytes, since the kernel silently cuts a longer command line.
//
// Parameters the harness sets or relies on are reserved, compared the way
// the kernel does ('-' as '_'; case variants are refused too):
//
//   - the console: console, earlycon, earlyprintk, and 8250.nr_uarts
//     (8250_core.nr_uarts), since the verdict reads the one serial console;
//   - init and the initramfs: init, rdinit, root, noinitrd, initrd,
//     initrdmem, bootconfig, since the guest's init is the test binary;
//   - panic handling: panic, oops, panic_on_oops, panic_on_warn,
//     panic_on_taint, panic_print, pause_on_oops, reboot, since the
//     verdict relies on any oops panicking and a panic ending the guest at
//     once;
//   - log levels: loglevel, quiet, printk.console_no_auto_verbose, since
//     panics and oopses must reach the console;
//   - kaslr and nokaslr, since a host-side monitor reads guest memory at
//     link-time addresses;
//   - sched_ext.watchdog_override_ms, since the watchdog timeout is set by
//     the harness (Test.WatchdogTimeoutS);
//   - sysctl.<name>=<value> (or sysctl/<name>) for the sysctls
//     ValidateSysctls reserves (kernel.panic, kernel.panic_on_oops,
//     kernel.panic_on_warn, kernel.panic_print, kernel.warn_limit,
//     kernel.printk, kernel.sysrq, kernel.sched_ext*);
//     other sysctl parameters must have a well-formed name (see
//     ValidateSysctls) and a value.
//
// Parameter names with upper-case letters are refused too: kernel
// parameters are lower-case, and the kernel hands a name it does not know
// to init as an environment variable, which the harness owns.
//
// Everything else is allowed, and a scheduler developer legitimately passes
// much: numa=fake=2, nohz_full=1, isolcpus=..., sched_verbose, nosmt,
// sysctl.kernel.sched_rt_runtime_us=-1, and also ignore_loglevel, debug,
// retain_initrd and sysrq_always_enabled, which only add to what the
// harness gets.
func ValidateKernelArgs(args []string) error {
	var errs []error
	total := 0
	for i, a := range args {
		if i > 0 {
			total++
		}
		total += len(a)
		if msg := checkKernelArg(a); msg != "" {
			errs = append(errs, fmt.Errorf("KernelArgs[%d] %q: %s", i, a, msg))
		}
	}
	if total > MaxKernelArgsLen {
		errs = append(errs, fmt.Errorf("KernelArgs are %d bytes joined: at most %d (the kernel silently cuts a longer command line, possibly inside a parameter); pass fewer", total, MaxKernelArgsLen))
	}
	return errors.Join(errs...)
}

// checkKernelArg returns why a is refused and the fix, or "".
func checkKernelArg(a string) string {
	if a == "" {
		return "empty; one kernel parameter per element: remove it"
	}
	for i := 0; i < len(a); i++ {
		switch b := a[i]; {
		case b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r':
			return fmt.Sprintf("contains whitespace (%q): the kernel splits the command line there, so this is more than one parameter; put one parameter per element", b)
		case b < 0x20 || b == 0x7f:
			return fmt.Sprintf("contains a control character (%q): kernel parameters are printable ASCII; remove it", b)
		case b >= 0x80:
			return fmt.Sprintf("contains a non-ASCII byte (%#x): kernel parameters are printable ASCII (and the kernel's isspace counts 0xa0 as a space); use ASCII", b)
		case b == '"':
			return "contains a double quote: a quote makes the kernel read the following parameters as part of this one; remove the quotes (one parameter per element needs none)"
		}
	}
	if strings.HasPrefix(a, "--") {
		return "the kernel passes everything after \"--\" to the guest's init (the test binary) as arguments, and the harness owns init; remove it"
	}
	if a[0] == '-' {
		return "no kernel parameter starts with '-': the kernel would pass it to the guest's init (the test binary) as a command-line flag; remove it"
	}
	name, val, hasVal := strings.Cut(a, "=")
	if name == "" {
		return "no parameter name before '='; write name=value"
	}
	n := normParam(name)
	if strings.HasPrefix(n, "sysctl.") || strings.HasPrefix(n, "sysctl/") {
		sys := name[len("sysctl."):]
		if r, ok := lookup(reservedSysctls, normSysctl(sys)); ok {
			return fmt.Sprintf("sysctl %s: %s; %s", normSysctl(sys), r.why, r.fix)
		}
		if msg := checkSysctlName(sys); msg != "" {
			return fmt.Sprintf("sysctl name %q %s; fix the name", sys, msg)
		}
		if !hasVal || val == "" {
			return "a sysctl parameter needs a value (sysctl.<name>=<value>); add one"
		}
		return ""
	}
	if r, ok := lookup(reservedParams, n); ok {
		return r.why + "; " + r.fix
	}
	if strings.ToLower(name) != name {
		return "kernel parameter names are lower-case, and the kernel hands a name it does not know to the guest's init (the test binary) as an environment variable or argument, which the harness owns; use the lower-case name"
	}
	return ""
}

const sysctlNameForm = "a sysctl name is components of a-z, 0-9, '_' and '-' separated by '.' or '/', as in kernel.sched_rt_runtime_us or vm/overcommit_memory"

// checkSysctlName returns what is wrong with a sysctl name, or "".
func checkSysctlName(name string) string {
	if name == "" {
		return "is empty: " + sysctlNameForm
	}
	for i := 0; i < len(name); i++ {
		switch b := name[i]; {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9', b == '_', b == '-', b == '.', b == '/':
		case b >= 'A' && b <= 'Z':
			return fmt.Sprintf("contains upper-case %q: sysctl names are lower-case", b)
		default:
			return fmt.Sprintf("contains %q: %s", b, sysctlNameForm)
		}
	}
	parts := strings.FieldsFunc(name, func(r rune) bool { return r == '.' || r == '/' })
	if len(parts) != strings.Count(name, ".")+strings.Count(name, "/")+1 {
		return "has an empty, \".\" or \"..\" component (a leading, trailing or doubled separator), which could reach outside /proc/sys: " + sysctlNameForm
	}
	for _, p := range parts {
		if p[0] == '-' {
			return fmt.Sprintf("has a component starting with '-' (%q): %s", p, sysctlNameForm)
		}
	}
	if len(parts) < 2 {
		return "is a directory of /proc/sys, not a sysctl (the top level holds only directories such as kernel, vm and net)"
	}
	return ""
}

// checkSysctlValue returns what is wrong with a sysctl value, or "".
func checkSysctlValue(v string) string {
	if strings.TrimSpace(v) == "" {
		return "is empty: give the value to write, as in \"1\""
	}
	if !utf8.ValidString(v) {
		return "is not valid UTF-8: give a single line of text"
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains a control character (%q): give a single line of printable text", r)
		}
	}
	return ""
}

// ValidateSysctls checks a Scheduler's Sysctls, which the guest writes under
// /proc/sys (at SysctlPath) before the scheduler starts. It reports every
// entry it refuses, in name order, each naming the key, the rule and the
// fix.
//
// A name is components of a-z, 0-9, '_' and '-' separated by '.' or '/'
// ("kernel.sched_rt_runtime_us", "vm/overcommit_memory"), at least two of
// them, none empty and none starting with '-': so no name can be "." or
// ".." once '.' becomes '/', and none can reach outside /proc/sys. (A
// component holding a '.' itself, such as a VLAN interface under net,
// cannot be named.) Two names must not reach the same file. A value is a
// non-empty single line of UTF-8 text without control characters.
//
// The sysctls the harness owns are reserved, compared with '.' and '/'
// alike, '-' as '_' and case ignored: kernel.panic, kernel.panic_on_oops,
// kernel.panic_on_warn, kernel.panic_print and kernel.warn_limit (the
// verdict relies on any oops panicking and a panic ending the guest at
// once), kernel.printk (panics and oopses must reach the console),
// kernel.sysrq (the harness may trigger SysRq dumps) and anything starting
// with
// kernel.sched_ext. ValidateKernelArgs refuses the same names as
// sysctl.<name> parameters. Everything else is allowed, for example
// kernel.sched_rt_runtime_us = "-1" or vm.overcommit_memory = "1".
func ValidateSysctls(m map[string]string) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	seen := map[string]string{}
	for _, k := range names {
		v := m[k]
		if r, ok := lookup(reservedSysctls, normSysctl(k)); ok {
			errs = append(errs, fmt.Errorf("Sysctls[%q]: %s; %s", k, r.why, r.fix))
			continue
		}
		if msg := checkSysctlName(k); msg != "" {
			errs = append(errs, fmt.Errorf("Sysctls[%q]: the name %s; fix the name", k, msg))
			continue
		}
		if first, ok := seen[SysctlPath(k)]; ok {
			errs = append(errs, fmt.Errorf("Sysctls[%q]: names the same sysctl as %q, and only one value can be written; keep one of them", k, first))
			continue
		}
		seen[SysctlPath(k)] = k
		if msg := checkSysctlValue(v); msg != "" {
			errs = append(errs, fmt.Errorf("Sysctls[%q] = %q: the value %s", k, v, msg))
		}
	}
	return errors.Join(errs...)
}

// SysctlPath is the path under /proc/sys of a sysctl name that
// ValidateSysctls accepts: every '.' becomes '/', as the kernel does for
// sysctl.<name> parameters ("kernel.sched_rt_runtime_us" is
// "kernel/sched_rt_runtime_us").
func SysctlPath(name string) string {
	return strings.ReplaceAll(name, ".", "/")
}
