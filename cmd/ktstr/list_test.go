package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/ktstr-go/ktstr"
	"github.com/ktstr-go/ktstr/gauntlet"
)

// ktstr list --gauntlet over the examples package: every ktstr.Run call
// listed with all 24 presets, each skipped variant saying why, nothing
// booted (it takes seconds, not the minutes the VMs would).
func TestList(t *testing.T) {
	if _, err := exec.LookPath(goTool()); err != nil {
		t.Skip("no go toolchain")
	}
	t.Setenv("KTSTR_BUDGET_SECS", "")
	t.Setenv("KTSTR_SHARD", "")
	start := time.Now()
	c := root()
	var out bytes.Buffer
	c.SetOut(&out)
	c.SetErr(os.Stderr)
	c.SetArgs([]string{"list", "--gauntlet", "--json", "../../examples"})
	if err := c.Execute(); err != nil {
		t.Fatal(err)
	}
	var ls []ktstr.Listing
	if err := json.Unmarshal(out.Bytes(), &ls); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(ls) != 4 {
		t.Fatalf("%d listings, want the 4 ktstr.Run calls of TestDemo:\n%s", len(ls), out.String())
	}
	for _, l := range ls {
		if len(l.Variants) != len(gauntlet.Presets()) || l.Budget == "" {
			t.Errorf("%s: %d variants (want %d), budget %q", l.Test, len(l.Variants), len(gauntlet.Presets()), l.Budget)
		}
		runs := 0
		for _, v := range l.Variants {
			if v.Skip == "" {
				runs++
			}
			if v.Estimate <= 0 {
				t.Errorf("%s %s: estimate %v", l.Test, v.Name, v.Estimate)
			}
		}
		if runs == 0 || runs == len(l.Variants) {
			t.Errorf("%s: %d of %d variants run: the default constraints (one NUMA node, at most 12 LLCs) must skip some, and some must run", l.Test, runs, len(l.Variants))
		}
	}
	if d := time.Since(start); d > 3*time.Minute {
		t.Errorf("listing took %s: did something boot?", d)
	}
}
