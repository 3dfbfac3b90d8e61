package main

import (
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
