package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ktstr-go/ktstr/internal/guest"
	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/topology"
)

// The topo command packs its own executable as the guest's init; in this
// test binary that is the test binary, so it must act as init too.
func TestMain(m *testing.M) {
	if guest.IsInit() {
		guest.Init()
	}
	os.Exit(m.Run())
}

// TestTopoJSON boots a VM through the command and checks its one JSON
// object against the asked shape.
func TestTopoJSON(t *testing.T) {
	if _, err := runner.HostEnvironment(); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("CI=true and VMs cannot run: %v", err)
		}
		t.Skipf("VMs cannot run here: %v", err)
	}
	var out, errOut bytes.Buffer
	c := root()
	c.SetArgs([]string{"topo", "2n2l1c2t", "--json"})
	c.SetOut(&out)
	c.SetErr(&errOut)
	if err := c.Execute(); err != nil {
		t.Fatalf("ktstr topo: %v\n%s", err, errOut.String())
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"cpus", "llcs", "smt", "numa", "distances"} {
		if _, ok := got[k]; !ok {
			t.Errorf("key %q missing: %s", k, out.String())
		}
	}
	var o topology.Observed
	if err := json.Unmarshal(out.Bytes(), &o); err != nil {
		t.Fatal(err)
	}
	if d := topology.New(2, 2, 1, 2).Expected().Diff(o); d != nil {
		t.Errorf("guest differs: %v", d)
	}
}

// TestCheckTopo: a guest that differs from the asked shape is an error
// exit with the differences on stderr.
func TestCheckTopo(t *testing.T) {
	var w bytes.Buffer
	want := topology.New(1, 2, 2, 1)
	if err := checkTopo(&w, want, want.Expected()); err != nil || w.Len() != 0 {
		t.Fatalf("matching topology: %v %q", err, w.String())
	}
	err := checkTopo(&w, want, topology.New(1, 1, 4, 1).Expected())
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(w.String(), "LLC groups: want 2 [0-1] [2-3], guest has 1 [0-3]") {
		t.Errorf("mismatch: %v, %q", err, w.String())
	}
}
