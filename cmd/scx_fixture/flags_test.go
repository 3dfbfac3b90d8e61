package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
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
	for _, tc := range []struct {
		args    []string
		want    config
		wantErr string
	}{
		{args: nil, want: config{}},
		{args: []string{"--stall-after", "5", "-v"}, want: config{stallAfter: 5, verbose: true}},
		{args: []string{"--config", cfg}, want: config{degrade: 50, watchdogMS: 2000}},
		{args: []string{"--config=" + cfg, "--degrade", "90"}, want: config{degrade: 90, watchdogMS: 2000}},
		{args: []string{"--config"}, wantErr: "needs a file"},
		{args: []string{"--config", filepath.Join(dir, "missing")}, wantErr: "--config:"},
		{args: []string{"--degrade", "101"}, wantErr: "must be 0-100"},
		{args: []string{"--watchdog-ms", "40000"}, wantErr: "at most"},
		{args: []string{"extra"}, wantErr: "unexpected arguments"},
		{args: []string{"--no-such-flag"}, wantErr: "no-such-flag"},
		{args: []string{"--error-on-exit"}, want: config{errorOnExit: true}},
		{args: []string{"-error-on-exit=true"}, want: config{errorOnExit: true}},
		{args: []string{"--error-on-exit=false"}, want: config{}},
		{args: []string{"--error-on-exit=maybe"}, wantErr: "error-on-exit"},
		// --error-on-exit only acts at shutdown: it combines with every
		// other knob.
		{args: []string{"--stall-after", "300", "--error-after", "500", "--degrade", "20", "--error-on-exit", "--watchdog-ms", "4000"},
			want: config{stallAfter: 300, errorAfter: 500, degrade: 20, errorOnExit: true, watchdogMS: 4000}},
		{args: []string{"--config", errCfg}, want: config{errorOnExit: true, stallAfter: 7}},
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
	} {
		if !strings.Contains(help, want) {
			t.Errorf("help text lacks %q:\n%s", want, help)
		}
	}
	// A boolean flag takes no value in the usage line.
	if strings.Contains(help, "-error-on-exit value") {
		t.Errorf("help text shows a value for --error-on-exit:\n%s", help)
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
	} {
		if got := run(tc.args, io.Discard, io.Discard); got != tc.want {
			t.Errorf("run(%q) = %d, want %d", tc.args, got, tc.want)
		}
	}
}
