package verify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMergeChain: framework defaults, then the scheduler's level, then the
// test's; the last level that sets a field wins, and any level can switch a
// check off or back on.
func TestMergeChain(t *testing.T) {
	for _, tc := range []struct {
		name        string
		sched, test Config
		check       func(c Config) string
	}{
		{"defaults only", Config{}, Config{}, func(c Config) string {
			if !c.NotStarved.True() || c.Isolation.True() || c.MaxSpreadPct != Val(15) || c.MaxGapMs != Val(2000) || c.MaxThroughputCV.Set() {
				return "framework defaults lost"
			}
			return ""
		}},
		{"scheduler overrides default", Config{MaxGapMs: Val(5000)}, Config{}, func(c Config) string {
			if c.MaxGapMs != Val(5000) {
				return "scheduler's MaxGapMs not applied"
			}
			return ""
		}},
		{"test overrides scheduler", Config{MaxGapMs: Val(5000), Isolation: On}, Config{MaxGapMs: Val(100)}, func(c Config) string {
			if c.MaxGapMs != Val(100) || !c.Isolation.True() {
				return "test level must win where set and inherit elsewhere"
			}
			return ""
		}},
		{"scheduler disables, test inherits", Config{MaxSpreadPct: Disabled, NotStarved: Off}, Config{}, func(c Config) string {
			if c.MaxSpreadPct.Enabled() || c.NotStarved.True() {
				return "scheduler's Disabled/Off lost"
			}
			return ""
		}},
		{"test re-enables what the scheduler disabled", Config{MaxSpreadPct: Disabled, NotStarved: Off}, Config{MaxSpreadPct: Val(30), NotStarved: On}, func(c Config) string {
			if c.MaxSpreadPct != Val(30) || !c.NotStarved.True() {
				return "test's re-enable lost"
			}
			return ""
		}},
		{"test disables a default", Config{}, Config{MaxGapMs: Disabled, NotStarved: Off}, func(c Config) string {
			if c.MaxGapMs.Enabled() || c.NotStarved != Off {
				return "test's Disabled/Off lost"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if why := tc.check(Merge(Defaults(), tc.sched, tc.test)); why != "" {
				t.Errorf("%s: %+v", why, Merge(Defaults(), tc.sched, tc.test))
			}
		})
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	in := Config{NotStarved: On, Isolation: Off, MaxGapMs: Val(2500), MaxSpreadPct: Disabled, SustainedSamples: Val(3)}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(raw); !strings.Contains(s, `"max_gap_ms":2500`) || !strings.Contains(s, `"max_spread_pct":false`) || !strings.Contains(s, `"min_work_rate":null`) {
		t.Errorf("JSON form: %s", s)
	}
	var out Config
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out, cmp.AllowUnexported(Threshold{})); diff != "" {
		t.Errorf("round trip (-in +out):\n%s", diff)
	}
}

func TestBoolAndThreshold(t *testing.T) {
	if Inherit.Set() || !On.Set() || !Off.Set() || Off.True() || !On.True() || Inherit.Or(On) != On || Off.Or(On) != Off {
		t.Error("Bool semantics")
	}
	var unset Threshold
	if unset.Set() || unset.Enabled() || !Disabled.Set() || Disabled.Enabled() || unset.Or(Val(1)) != Val(1) || Disabled.Or(Val(1)) != Disabled {
		t.Error("Threshold semantics")
	}
	if v, ok := Val(2).Value(); !ok || v != 2 {
		t.Error("Value")
	}
	for th, want := range map[Threshold]string{Val(1.5): "1.5", Disabled: "disabled", {}: "inherit"} {
		if th.String() != want {
			t.Errorf("String() = %q, want %q", th.String(), want)
		}
	}
}
