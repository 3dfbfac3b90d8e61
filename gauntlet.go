package ktstr

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ktstr-go/ktstr/gauntlet"
	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/report"
)

// listPrefix starts the line Run prints in ktstr list's mode.
const listPrefix = "ktstr-list "

// Listing is what Run prints about one ktstr.Run call in ktstr list's mode
// (KTSTR_LIST=1): the plain case and, with the gauntlet on, every variant
// with why it would not run.
type Listing struct {
	Package    string           `json:"package"`
	Test       string           `json:"test"`
	Occurrence int              `json:"occurrence"`
	Topology   string           `json:"topology"`
	Scheduler  string           `json:"scheduler"`
	Profile    string           `json:"profile,omitempty"`
	Skip       string           `json:"skip,omitempty"`
	Variants   []ListingVariant `json:"variants,omitempty"`
	Budget     string           `json:"budget,omitempty"`
	Shard      string           `json:"shard,omitempty"`
}

// ListingVariant is one gauntlet variant of a Listing.
type ListingVariant struct {
	Name     string  `json:"name"`
	Topology string  `json:"topology"`
	Profile  string  `json:"profile"`
	Kernel   string  `json:"kernel,omitempty"`
	Estimate float64 `json:"estimate_s"`
	Skip     string  `json:"skip,omitempty"`
}

// expansion is a test's gauntlet: its variants and how they were chosen.
type expansion struct {
	variants []gauntlet.Variant
	budget   gauntlet.BudgetReport
	plainRun bool   // this shard runs the plain case
	plainWhy string // why not
}

// expand builds the test's gauntlet for the host: presets × profiles ×
// kernels, filtered by its constraints and the host, then the budget, then
// this machine's shard.
func expand(name string, p *plan.Plan, s runner.Settings, host gauntlet.Host, kernels []string) expansion {
	in := gauntlet.Input{
		Test: name, Scheduler: p.SchedulerName, SchedExt: p.Scheduler != nil, Constraints: p.Constraints, MemoryMB: p.MemoryMB,
		Duration: p.Duration, Host: host, Kernels: kernels,
	}
	if sp := p.Scheduler; sp != nil {
		for _, pr := range sp.Profiles {
			in.Profiles = append(in.Profiles, gauntlet.Profile{Name: pr.Name, Flags: pr.Flags})
		}
	} else {
		in.Profiles = []gauntlet.Profile{{Name: "default"}}
	}
	e := expansion{variants: gauntlet.Expand(in), plainRun: true}
	e.budget = gauntlet.ApplyBudget(e.variants, s.Budget)
	if s.Sharded {
		gauntlet.ApplyShard(e.variants, s.Shard)
		if owner := s.Shard; !owner.Owns(name + "/plain") {
			e.plainRun, e.plainWhy = false, fmt.Sprintf("shard %s: the plain case runs on another shard", s.Shard)
		}
	}
	return e
}

// variantPlan is the plan of one variant: the preset's topology and
// memory, the profile's scheduler arguments.
func variantPlan(p *plan.Plan, v gauntlet.Variant) *plan.Plan {
	q := *p
	q.Topology, q.MemoryMB = v.Preset.Topology, v.MemoryMB
	if sp := p.Scheduler; sp != nil {
		s := *sp
		for _, pr := range sp.Profiles {
			if pr.Name == v.Profile.Name {
				s.Profile, s.Args = pr.Name, pr.Args
			}
		}
		q.Scheduler = &s
	}
	return &q
}

// runGauntlet runs the plain case as subtest "plain" and every variant as
// subtest gauntlet/<preset>/<profile>[/<kernel>], in parallel within the
// host's VM slots; a variant that does not run is a skipped subtest saying
// why.
func runGauntlet(t *testing.T, env *runner.HostEnv, p *plan.Plan, id runner.RunID, iteration int, judge bool) error {
	t.Helper()
	host := gauntlet.Host{Accel: string(env.Accel.Accel), CPUs: env.HostCPUs, MemAvailableMB: env.MemAvailableMB, Overcommit: env.Overcommit}
	var kernels []string
	if len(env.Images) > 1 {
		for _, img := range env.Images {
			kernels = append(kernels, img.Label())
		}
	}
	e := expand(t.Name(), p, env.Settings, host, kernels)
	t.Logf("ktstr: gauntlet of %s: %d variant(s), %s%s", t.Name(), len(e.variants), e.budget, shardNote(env.Settings))
	writeManifest(t, env, id, iteration, e)
	var mu sync.Mutex
	var errs []error
	keep := func(err error) {
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	}
	t.Run("plain", func(t *testing.T) {
		if !e.plainRun {
			t.Skip(e.plainWhy)
		}
		keep(runReplicas(t, env, p, id, iteration, judge))
	})
	t.Run("gauntlet", func(t *testing.T) {
		for _, tree := range groupVariants(e.variants) {
			t.Run(tree.name, func(t *testing.T) {
				t.Parallel()
				for _, v := range tree.variants {
					leaf := strings.TrimPrefix(v.Name, "gauntlet/"+tree.name+"/")
					t.Run(leaf, func(t *testing.T) {
						if v.Skip != "" {
							t.Skip(v.Skip)
						}
						t.Parallel()
						venv := *env
						if len(env.Images) > 1 {
							venv.Image = env.Images[v.KernelIndex]
						}
						// The guest runs the same Run call (id): the job carries
						// the variant's topology and arguments.
						keep(runReplicas(t, &venv, variantPlan(p, v), id, iteration, judge))
					})
				}
			})
		}
	})
	return joinErrs(errs)
}

// presetGroup is the variants of one preset, in order.
type presetGroup struct {
	name     string
	variants []gauntlet.Variant
}

// groupVariants groups variants by preset, keeping their order.
func groupVariants(vs []gauntlet.Variant) []presetGroup {
	var out []presetGroup
	for _, v := range vs {
		if len(out) == 0 || out[len(out)-1].name != v.Preset.Name {
			out = append(out, presetGroup{name: v.Preset.Name})
		}
		out[len(out)-1].variants = append(out[len(out)-1].variants, v)
	}
	return out
}

func shardNote(s runner.Settings) string {
	if !s.Sharded {
		return ""
	}
	return fmt.Sprintf("; shard %s", s.Shard)
}

// listTest prints the test's Listing (ktstr list) and skips it: nothing
// boots.
func listTest(t *testing.T, s runner.Settings, p *plan.Plan, occurrence int) {
	t.Helper()
	l := Listing{Package: testPackage(), Test: t.Name(), Occurrence: occurrence, Topology: p.Topology.String(), Scheduler: p.SchedulerName}
	if sp := p.Scheduler; sp != nil {
		l.Profile = sp.Profile
	}
	if s.Gauntlet {
		host, err := runner.Facts(s)
		if err != nil {
			t.Fatalf("ktstr: %v", err)
		}
		e := expand(t.Name(), p, s, host, nil)
		l.Budget = e.budget.String()
		if !e.plainRun {
			l.Skip = e.plainWhy
		}
		if s.Sharded {
			l.Shard = s.Shard.String()
		}
		for _, v := range e.variants {
			l.Variants = append(l.Variants, ListingVariant{Name: v.Name, Topology: v.Preset.Topology.String(), Profile: v.Profile.Name,
				Kernel: v.Kernel, Estimate: v.Estimate.Seconds(), Skip: v.Skip})
		}
	}
	raw, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(os.Stdout, listPrefix+string(raw))
	t.Skip("ktstr list: nothing boots")
}

// writeManifest records, in KTSTR_RESULTS_DIR, every variant of the test's
// gauntlet and where it runs, so that ktstr report merge can say which
// shards' records are missing.
func writeManifest(t *testing.T, env *runner.HostEnv, id runner.RunID, iteration int, e expansion) {
	t.Helper()
	if env.ResultsDir == "" {
		return
	}
	m := report.Manifest{Package: testPackage(), Test: id.Test, Iteration: iteration, Occurrence: id.Occurrence, Budget: e.budget.String()}
	if env.Sharded {
		m.Shard = env.Shard.String()
	}
	m.Plain = report.ManifestEntry{Name: id.Test + "/plain", Runs: e.plainRun, Skip: e.plainWhy}
	for _, v := range e.variants {
		m.Variants = append(m.Variants, report.ManifestEntry{Name: id.Test + "/" + v.Name, Runs: v.Skip == "", Skip: v.Skip, Elsewhere: isElsewhere(v.Skip)})
	}
	if err := report.WriteManifest(env.ResultsDir, m); err != nil {
		t.Errorf("ktstr: %v", err)
	}
}

// isElsewhere reports whether a skip only means another shard runs it.
func isElsewhere(skip string) bool { return strings.HasPrefix(skip, "shard ") }

func joinErrs(errs []error) error {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if len(errs) == 0 {
		return nil
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return fmt.Errorf("%d gauntlet runs failed: %w", len(errs), errors.Join(errs...))
}
