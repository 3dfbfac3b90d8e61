package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "fixture.conf")
	if err := os.WriteFile(cfg, []byte("# knobs\n--degrade=50\n\n--watchdog-ms\n2000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errCfg := filepath.Join(dir, "error-on-exit.conf")
	if err := os.WriteFile(errCfg, []byte("--error-on-exit\n--stall-after=7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// def returns the default configuration changed by set.
	def := func(set func(*config)) config {
		c := defaultConfig()
		if set != nil {
			set(&c)
		}
		return c
	}
	for _, tc := range []struct {
		args    []string
		want    config
		wantErr string
	}{
		{args: nil, want: def(nil)},
		{args: []string{"--stall-after", "5", "-v"}, want: def(func(c *config) { c.stallAfter, c.verbose = 5, true })},
		{args: []string{"--config", cfg}, want: def(func(c *config) { c.degrade, c.watchdogMS = 50, 2000 })},
		{args: []string{"--config=" + cfg, "--degrade", "90"}, want: def(func(c *config) { c.degrade, c.watchdogMS = 90, 2000 })},
		{args: []string{"--config"}, wantErr: "needs a file"},
		{args: []string{"--config", filepath.Join(dir, "missing")}, wantErr: "--config:"},
		{args: []string{"--degrade", "101"}, wantErr: "must be 0-100"},
		{args: []string{"--watchdog-ms", "40000"}, wantErr: "at most"},
		{args: []string{"extra"}, wantErr: "unexpected arguments"},
		{args: []string{"--no-such-flag"}, wantErr: "no-such-flag"},
		{args: []string{"--error-on-exit"}, want: def(func(c *config) { c.errorOnExit = true })},
		{args: []string{"-error-on-exit=true"}, want: def(func(c *config) { c.errorOnExit = true })},
		{args: []string{"--error-on-exit=false"}, want: def(nil)},
		{args: []string{"--error-on-exit=maybe"}, wantErr: "error-on-exit"},
		// --error-on-exit only acts at shutdown: it combines with every
		// other knob.
		{args: []string{"--stall-after", "300", "--error-after", "500", "--degrade", "20", "--error-on-exit", "--watchdog-ms", "4000"},
			want: def(func(c *config) {
				c.stallAfter, c.errorAfter, c.degrade, c.errorOnExit, c.watchdogMS = 300, 500, 20, true, 4000
			})},
		{args: []string{"--config", errCfg}, want: def(func(c *config) { c.errorOnExit, c.stallAfter = true, 7 })},

		// --pile-on and --stall-cpu take a CPU number, 0 or more.
		{args: []string{"--pile-on", "0"}, want: def(func(c *config) { c.pileOn = 0 })},
		{args: []string{"--pile-on=3"}, want: def(func(c *config) { c.pileOn = 3 })},
		{args: []string{"--stall-cpu", "1"}, want: def(func(c *config) { c.stallCPU = 1 })},
		{args: []string{"--stall-cpu", "0", "--stall-ms", "1500"}, want: def(func(c *config) { c.stallCPU, c.stallMS = 0, 1500 })},
		{args: []string{"--pile-on", "-1"}, wantErr: "pile-on"},
		{args: []string{"--pile-on=-3"}, wantErr: "pile-on"},
		{args: []string{"--stall-cpu", "-1"}, wantErr: "stall-cpu"},
		{args: []string{"--pile-on", "one"}, wantErr: "pile-on"},
		{args: []string{"--stall-cpu", "99999999999"}, wantErr: "stall-cpu"},
		{args: []string{"--pile-on"}, wantErr: "pile-on"},
		{args: []string{"--stall-cpu", "1", "--stall-ms", "0"}, wantErr: "must be 1-5000"},
		{args: []string{"--stall-cpu", "1", "--stall-ms", "5001"}, wantErr: "must be 1-5000"},
		{args: []string{"--stall-ms", "500"}, wantErr: "only with --stall-cpu"},
		// Combinations that make no sense: each of these knobs decides
		// where user tasks go.
		{args: []string{"--pile-on", "0", "--stall-cpu", "1"}, wantErr: "do not combine"},
		{args: []string{"--pile-on", "0", "--stall-cpu", "0"}, wantErr: "do not combine"},
		{args: []string{"--pile-on", "0", "--stall-after", "10"}, wantErr: "--pile-on and --stall-after do not combine"},
		{args: []string{"--pile-on", "0", "--degrade", "50"}, wantErr: "--pile-on and --degrade do not combine"},
		{args: []string{"--stall-cpu", "1", "--stall-after", "10"}, wantErr: "--stall-cpu and --stall-after do not combine"},
		{args: []string{"--stall-cpu", "1", "--degrade", "1"}, wantErr: "--stall-cpu and --degrade do not combine"},
		// ... but off is off.
		{args: []string{"--pile-on", "0", "--degrade", "0", "--stall-after", "0"}, want: def(func(c *config) { c.pileOn = 0 })},
		// They combine with the knobs that do not place tasks.
		{args: []string{"--pile-on", "1", "--error-after", "500", "--error-on-exit", "--watchdog-ms", "8000", "-v"},
			want: def(func(c *config) {
				c.pileOn, c.errorAfter, c.errorOnExit, c.watchdogMS, c.verbose = 1, 500, true, 8000, true
			})},
		{args: []string{"--stall-cpu", "0", "--error-after", "500", "--error-on-exit", "--watchdog-ms", "8000"},
			want: def(func(c *config) { c.stallCPU, c.errorAfter, c.errorOnExit, c.watchdogMS = 0, 500, true, 8000 })},
	} {
		got, err := parseFlags(tc.args, io.Discard)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseFlags(%q) error %v, want one containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseFlags(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{in: "0\n", want: []int{0}},
		{in: "0-1", want: []int{0, 1}},
		{in: "0-2,5,7-8\n", want: []int{0, 1, 2, 5, 7, 8}},
		{in: "", want: nil},
		{in: "x", err: true},
		{in: "3-1", err: true},
		{in: "-1", err: true},
		{in: "0,,1", err: true},
	} {
		got, err := parseCPUList(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseCPUList(%q) = %v, %v; want %v (error: %t)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// The CPU knobs name an online CPU; --stall-cpu needs another one.
func TestCheckCPUs(t *testing.T) {
	c := func(pile, stall int) config {
		cfg := defaultConfig()
		cfg.pileOn, cfg.stallCPU = pile, stall
		return cfg
	}
	for _, tc := range []struct {
		cfg     config
		online  []int
		wantErr string
	}{
		{cfg: c(noCPU, noCPU), online: []int{0}},
		{cfg: c(0, noCPU), online: []int{0}},
		{cfg: c(1, noCPU), online: []int{0, 1}},
		{cfg: c(2, noCPU), online: []int{0, 1}, wantErr: "--pile-on 2: no such online CPU (online: 0,1)"},
		{cfg: c(1, noCPU), online: []int{0, 2}, wantErr: "--pile-on 1: no such online CPU"},
		{cfg: c(noCPU, 1), online: []int{0, 1}},
		{cfg: c(noCPU, 0), online: []int{0, 1, 2, 3}},
		{cfg: c(noCPU, 4), online: []int{0, 1, 2, 3}, wantErr: "--stall-cpu 4: no such online CPU"},
		{cfg: c(noCPU, 0), online: []int{0}, wantErr: "only online CPU"},
	} {
		err := checkCPUs(tc.cfg, tc.online)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("checkCPUs(pile-on %d, stall-cpu %d, online %v) = %v, want %q", tc.cfg.pileOn, tc.cfg.stallCPU, tc.online, err, tc.wantErr)
		}
	}
}

// The help text documents every knob, with the stall's new meaning.
func TestHelp(t *testing.T) {
	var out strings.Builder
	if _, err := parseFlags([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("parseFlags(-h) error %v, want flag.ErrHelp", err)
	}
	help := out.String()
	for _, want := range []string{
		"-stall-after N",
		"never dispatch a user task again (kernel threads still run)",
		"-error-on-exit",
		`scx_bpf_error("fixture: error on exit")`,
		"then exit 0 as if detached normally",
		"-error-after N",
		"-degrade PCT",
		"-watchdog-ms ms",
		"-pile-on CPU",
		"on CPU's local DSQ and nowhere else",
		"-stall-cpu CPU",
		"spin there for --stall-ms with the rq lock held",
		"-stall-ms ms",
		"(default 1000)",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help text lacks %q:\n%s", want, help)
		}
	}
	// A boolean flag takes no value in the usage line.
	if strings.Contains(help, "-error-on-exit value") {
		t.Errorf("help text shows a value for --error-on-exit:\n%s", help)
	}
	// The CPU knobs are off by default, which the help does not spell as -1.
	if strings.Contains(help, "(default -1)") {
		t.Errorf("help text shows a default of -1:\n%s", help)
	}
}

// run exits 0 for -h and 2 for an unknown flag, before touching BPF.
func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-h"}, exitOK},
		{[]string{"--error-on-exit", "--no-such-flag"}, exitUsage},
		{[]string{"--error-on-exit", "stray"}, exitUsage},
		{[]string{"--pile-on", "-1"}, exitUsage},
		{[]string{"--pile-on", "0", "--stall-cpu", "1"}, exitUsage},
		// No machine has that many CPUs online.
		{[]string{"--pile-on", "100000"}, exitUsage},
		{[]string{"--stall-cpu", "100000"}, exitUsage},
	} {
		if got := run(tc.args, io.Discard, io.Discard); got != tc.want {
			t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
