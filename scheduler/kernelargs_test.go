package scheduler

import (
	"strconv"
	"strings"
	"testing"
)

func TestValidateKernelArgs(t *testing.T) {
	const (
		ruleConsole = "the harness owns the serial console"
		ruleUART    = "exactly one 8250 UART"
		ruleInit    = "the harness owns the guest's init and initramfs"
		rulePanic   = "the harness sets panic/oops handling itself (the verdict relies on a panic ending the guest); remove it"
		ruleLog     = "panics and oopses on the console"
		ruleKASLR   = "KASLR stays off"
		ruleWD      = "set Test.WatchdogTimeoutS"
		ruleSysRq   = "SysRq"
		ruleSpace   = "more than one parameter; put one parameter per element"
		ruleCtl     = "control character"
		ruleASCII   = "non-ASCII"
		ruleQuote   = "double quote"
		ruleDashes  = `everything after "--"`
		ruleDash    = "no kernel parameter starts with '-'"
		ruleUpper   = "names are lower-case"
		ruleSysName = "; fix the name"
	)
	for _, tc := range []struct {
		arg  string
		want string // "" for allowed, else a substring of the error
	}{
		// Allowed: what scheduler developers pass.
		{"nosmt", ""},
		{"sched_debug=1", ""},
		{"isolcpus=1", ""},
		{"numa=fake=2", ""},
		{"nohz_full=1", ""},
		{"nohz_full=1-3,5", ""},
		{"sched_verbose", ""},
		{"sysctl.kernel.sched_rt_runtime_us=-1", ""},
		{"sysctl/kernel/sched_rt_runtime_us=-1", ""},
		{"sysctl.vm.overcommit_memory=1", ""},
		{"ignore_loglevel", ""},
		{"printk.ignore_loglevel=1", ""},
		{"debug", ""},
		{"retain_initrd", ""},
		{"sysrq_always_enabled", ""},
		{"hung_task_panic=1", ""},
		{"8250.share_irqs=1", ""},
		{"mitigations=off", ""},
		{"initcall_debug", ""},
		{"rootwait", ""},
		{"consoleblank=0", ""},
		{"panic_ondemand", ""},
		{"sched_ext.slice_bypass_us=5000", ""},

		// Console.
		{"console=tty0", ruleConsole},
		{"console", ruleConsole},
		{"Console=ttyS1", ruleConsole},
		{"earlycon", ruleConsole},
		{"earlycon=uart8250,io,0x3f8", ruleConsole},
		{"earlyprintk=vga", ruleConsole},
		{"early_printk=vga", ""}, // not earlyprintk: '_' is no '-' to drop
		{"EARLYPRINTK=vga", ruleConsole},
		{"8250.nr_uarts=0", ruleUART},
		{"8250.nr-uarts=0", ruleUART},
		{"8250_core.nr_uarts=0", ruleUART},
		{"8250-core.nr_uarts=4", ruleUART},

		// Init and initramfs.
		{"init=/x", ruleInit},
		{"rdinit=/bin/sh", ruleInit},
		{"RDINIT=/bin/sh", ruleInit},
		{"root=/dev/vda", ruleInit},
		{"noinitrd", ruleInit},
		{"noinitrd_x", ruleInit},
		{"noinitrd=0", ruleInit},
		{"initrd=0x1000000,0x100", ruleInit},
		{"initrdmem=0x1000000,0x100", ruleInit},
		{"bootconfig", ruleInit},

		// Panic and oops.
		{"panic=0", rulePanic},
		{"panic=30", rulePanic},
		{"Panic=0", rulePanic},
		{"oops=continue", rulePanic},
		{"panic_on_oops=0", rulePanic},
		{"panic-on-oops=0", rulePanic},
		{"PANIC-ON-OOPS=0", rulePanic},
		{"panic_on_warn=1", rulePanic},
		{"panic-on-warn=1", rulePanic},
		{"panic_on_taint=0x200", rulePanic},
		{"panic_print=0x7f", rulePanic},
		{"pause_on_oops=60", rulePanic},
		{"pause-on-oops=60", rulePanic},
		{"reboot=t", rulePanic},
		{"sysctl.kernel.panic_on_oops=0", rulePanic},
		{"sysctl.kernel.panic=0", rulePanic},
		{"sysctl/kernel/panic=0", rulePanic},
		{"sysctl.kernel/panic=0", rulePanic},
		{"sysctl/kernel.panic_on_oops=0", rulePanic},
		{"sysctl.kernel.panic-on-oops=0", rulePanic},
		{"sysctl.kernel..panic=0", rulePanic},
		{"sysctl./kernel.panic=0", rulePanic},
		{"sysctl.kernel.panic.=0", rulePanic},
		{"SYSCTL.KERNEL.PANIC=0", rulePanic},
		{"sysctl.kernel.panic_on_warn=1", rulePanic},
		{"sysctl.kernel.panic_print=1", rulePanic},
		{"sysctl.kernel.warn_limit=1", rulePanic},
		{"sysctl.kernel.panic", rulePanic},

		// Log levels.
		{"loglevel=0", ruleLog},
		{"Loglevel=0", ruleLog},
		{"LOGLEVEL=0", ruleLog},
		{"quiet", ruleLog},
		{"printk.console_no_auto_verbose=1", ruleLog},
		{"printk.console-no-auto-verbose=1", ruleLog},
		{"sysctl.kernel.printk=0", ruleLog},
		{"sysctl/kernel/printk=0 0 0 0", ruleSpace},

		// KASLR, sched_ext, SysRq, kallsyms.
		{"kaslr", ruleKASLR},
		{"nokaslr", ruleKASLR},
		{"sched_ext.watchdog_override_ms=0", ruleWD},
		{"sched-ext.watchdog-override-ms=0", ruleWD},
		{"sysctl.kernel.sysrq=0", ruleSysRq},
		{"sysctl.kernel.sched_ext_ops=x", "sched_ext"},

		// Malformed sysctl parameters.
		{"sysctl.=1", ruleSysName},
		{"sysctl.kernel=1", "is a directory of /proc/sys"},
		{"sysctl.vm..overcommit_memory=1", ruleSysName},
		{"sysctl/../sysrq-trigger=c", ruleSysName},
		{"sysctl.vm.Overcommit_memory=1", "upper-case"},
		{"sysctl.vm.overcommit_memory", "needs a value"},
		{"sysctl.vm.overcommit_memory=", "needs a value"},

		// One parameter per element, printable ASCII, no quotes.
		{"", "empty"},
		{"a b", ruleSpace},
		{" ", ruleSpace},
		{"a\tb", ruleSpace},
		{"a\nb", ruleSpace},
		{"a\vb", ruleSpace},
		{"a\fb", ruleSpace},
		{"a\rb", ruleSpace},
		{"nosmt\vpanic=0", ruleSpace},
		{"a\x00b", ruleCtl},
		{"a\x1bb", ruleCtl},
		{"a\x7fb", ruleCtl},
		{"a\u00a0b", ruleASCII},
		{"nosmt\xa0panic=0", ruleASCII},
		{"café=1", ruleASCII},
		{`foo="x`, ruleQuote},
		{`"panic=0"`, ruleQuote},
		{`dyndbg="+p"`, ruleQuote},

		// Init's arguments and environment.
		{"--", ruleDashes},
		{"--foo", ruleDashes},
		{"-v", ruleDash},
		{"-test.run=X", ruleDash},
		{"=1", "no parameter name"},
		{"KTSTR_ROLE=test", ruleUpper},
		{"GOTRACEBACK=none", ruleUpper},
		{"GODEBUG=x=1", ruleUpper},
		{"S", ruleUpper},
	} {
		err := ValidateKernelArgs([]string{"nosmt", tc.arg})
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidateKernelArgs(%q) = %v, want nil", tc.arg, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateKernelArgs(%q) = %v, want an error containing %q", tc.arg, err, tc.want)
			continue
		}
		// The error names the element by index and content.
		if prefix := "KernelArgs[1] " + strconv.Quote(tc.arg) + ": "; !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("ValidateKernelArgs(%q) = %q, want it to start with %q", tc.arg, err, prefix)
		}
	}
}

func TestValidateKernelArgsMessage(t *testing.T) {
	err := ValidateKernelArgs([]string{"nosmt", "sched_verbose", "panic-on-oops=0"})
	want := `KernelArgs[2] "panic-on-oops=0": the harness sets panic/oops handling itself (the verdict relies on a panic ending the guest); remove it`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	// Every bad element is reported, in order.
	err = ValidateKernelArgs([]string{"loglevel=0", "nosmt", "8250.nr_uarts=0"})
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "KernelArgs[0] ") || !strings.HasPrefix(lines[1], "KernelArgs[2] ") {
		t.Fatalf("error = %q, want one line for KernelArgs[0] and one for KernelArgs[2]", err)
	}
	if err := ValidateKernelArgs(nil); err != nil {
		t.Fatalf("no KernelArgs: %v", err)
	}
}

func TestValidateKernelArgsLength(t *testing.T) {
	arg := "isolcpus=" + strings.Repeat("1", 100)
	var args []string
	for n := 0; n+len(arg)+1 <= MaxKernelArgsLen+1; n += len(arg) + 1 {
		args = append(args, arg)
	}
	if err := ValidateKernelArgs(args); err != nil {
		t.Fatalf("%d args: %v", len(args), err)
	}
	args = append(args, strings.Repeat("x", MaxKernelArgsLen))
	if err := ValidateKernelArgs(args); err == nil || !strings.Contains(err.Error(), "at most 1024") {
		t.Fatalf("too long: error = %v, want one naming the limit", err)
	}
}

func TestValidateSysctls(t *testing.T) {
	const (
		rulePanic = "the harness sets panic/oops handling itself"
		ruleName  = "; fix the name"
		ruleValue = "the value"
	)
	for _, tc := range []struct {
		name, value string
		want        string
	}{
		{"kernel.sched_rt_runtime_us", "-1", ""},
		{"vm/overcommit_memory", "1", ""},
		{"vm.overcommit_memory", "1", ""},
		{"kernel.ctrl-alt-del", "0", ""},
		{"net.ipv4.tcp_rmem", "4096 87380 6291456", ""},
		{"kernel.sched_schedstats", "1", ""},
		{"kernel.hung_task_panic", "1", ""},
		{"kernel.panic_on_rcu_stall", "1", ""},
		{"kernel.sched_util_clamp_min", "0", ""},

		{"kernel.panic", "0", rulePanic},
		{"kernel/panic", "0", rulePanic},
		{"kernel.panic_on_oops", "0", rulePanic},
		{"kernel/panic_on_oops", "0", rulePanic},
		{"kernel.panic-on-oops", "0", rulePanic},
		{"Kernel.Panic_On_Oops", "0", rulePanic},
		{"kernel..panic", "0", rulePanic},
		{"/kernel/panic", "0", rulePanic},
		{"kernel.panic_on_warn", "1", rulePanic},
		{"kernel.panic_print", "1", rulePanic},
		{"kernel.warn_limit", "1", rulePanic},
		{"kernel.printk", "0 0 0 0", "panics and oopses on the console"},
		{"kernel/printk", "0", "panics and oopses on the console"},
		{"kernel.sysrq", "0", "SysRq"},
		{"kernel.sched_ext_ops", "x", "sched_ext"},
		{"kernel.sched_ext.enabled", "0", "sched_ext"},

		{"", "1", ruleName},
		{"../sysrq-trigger", "c", ruleName},
		{"..", "c", ruleName},
		{".", "c", ruleName},
		{"kernel/../../sysrq-trigger", "c", ruleName},
		{"kernel/./sched_rt_runtime_us", "1", ruleName},
		{"kernel.", "1", ruleName},
		{".kernel.sched_rt_runtime_us", "1", ruleName},
		{"vm//overcommit_memory", "1", ruleName},
		{"kernel", "1", "is a directory of /proc/sys"},
		{"vm.-x", "1", "starting with '-'"},
		{"-vm.x", "1", "starting with '-'"},
		{"vm.Overcommit_memory", "1", "upper-case"},
		{"vm.overcommit memory", "1", ruleName},
		{"vm.overcommit_memory\n", "1", ruleName},
		{"vm.overcommit_mémory", "1", ruleName},
		{"vm.overcommit_memory*", "1", ruleName},

		{"vm.overcommit_memory", "", ruleValue + " is empty"},
		{"vm.overcommit_memory", " ", ruleValue + " is empty"},
		{"vm.overcommit_memory", "1\n", ruleValue + " contains a control character"},
		{"vm.overcommit_memory", "1\n2", ruleValue + " contains a control character"},
		{"vm.overcommit_memory", "1\t2", ruleValue + " contains a control character"},
		{"vm.overcommit_memory", "1\r", ruleValue + " contains a control character"},
		{"vm.overcommit_memory", "\x00", ruleValue + " contains a control character"},
		{"vm.overcommit_memory", "\x85", ruleValue + " is not valid UTF-8"},
		{"vm.overcommit_memory", "1\u0085", ruleValue + " contains a control character"},
	} {
		err := ValidateSysctls(map[string]string{tc.name: tc.value})
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidateSysctls(%q: %q) = %v, want nil", tc.name, tc.value, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateSysctls(%q: %q) = %v, want an error containing %q", tc.name, tc.value, err, tc.want)
			continue
		}
		if prefix := "Sysctls[" + strconv.Quote(tc.name) + "]"; !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("ValidateSysctls(%q: %q) = %q, want it to start with %q", tc.name, tc.value, err, prefix)
		}
	}
}

func TestValidateSysctlsSortedAndDuplicates(t *testing.T) {
	err := ValidateSysctls(map[string]string{
		"vm.overcommit_memory":       "1",
		"kernel.sched_rt_runtime_us": "-1",
		"kernel.panic":               "0",
		"../sysrq-trigger":           "c",
		"vm.swappiness":              "",
	})
	if err == nil {
		t.Fatal("no error")
	}
	var keys []string
	for _, l := range strings.Split(err.Error(), "\n") {
		k, _, _ := strings.Cut(l, "]")
		keys = append(keys, k+"]")
	}
	want := []string{`Sysctls["../sysrq-trigger"]`, `Sysctls["kernel.panic"]`, `Sysctls["vm.swappiness"]`}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Fatalf("errors for %v, want %v (in name order):\n%v", keys, want, err)
	}
	for i := 0; i < 20; i++ {
		again := ValidateSysctls(map[string]string{
			"vm.overcommit_memory": "1", "kernel.panic": "0", "../sysrq-trigger": "c", "vm.swappiness": "",
		})
		if again.Error() != err.Error() {
			t.Fatalf("message differs between calls:\n%v\n%v", err, again)
		}
	}

	err = ValidateSysctls(map[string]string{"vm.overcommit_memory": "1", "vm/overcommit_memory": "2"})
	if err == nil || !strings.Contains(err.Error(), `Sysctls["vm/overcommit_memory"]: names the same sysctl as "vm.overcommit_memory"`) {
		t.Fatalf("duplicate: error = %v", err)
	}
	if err := ValidateSysctls(nil); err != nil {
		t.Fatalf("no Sysctls: %v", err)
	}
}

func TestSysctlPath(t *testing.T) {
	for name, want := range map[string]string{
		"kernel.sched_rt_runtime_us": "kernel/sched_rt_runtime_us",
		"vm/overcommit_memory":       "vm/overcommit_memory",
		"net.ipv4/tcp_rmem":          "net/ipv4/tcp_rmem",
		"kernel.ctrl-alt-del":        "kernel/ctrl-alt-del",
	} {
		if err := ValidateSysctls(map[string]string{name: "1"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := SysctlPath(name); got != want {
			t.Errorf("SysctlPath(%q) = %q, want %q", name, got, want)
		}
		for _, c := range strings.Split(SysctlPath(name), "/") {
			if c == "" || c == "." || c == ".." {
				t.Errorf("SysctlPath(%q) = %q has component %q", name, SysctlPath(name), c)
			}
		}
	}
}

// FuzzValidateSysctls checks that every name ValidateSysctls accepts maps
// to a path inside /proc/sys.
func FuzzValidateSysctls(f *testing.F) {
	for _, s := range []string{"kernel.sched_rt_runtime_us", "../sysrq-trigger", "vm/overcommit_memory", "a/./b", "a..b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateSysctls(map[string]string{name: "1"}) != nil {
			return
		}
		p := SysctlPath(name)
		if strings.HasPrefix(p, "/") {
			t.Fatalf("SysctlPath(%q) = %q is absolute", name, p)
		}
		for _, c := range strings.Split(p, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("SysctlPath(%q) = %q has component %q", name, p, c)
			}
		}
	})
}
