package scheduler

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var llcSteal = &Scheduler{Name: "my_sched", Binary: Discover("scx_my_sched"), Flags: []Flag{
	{Name: "llc", Args: []string{"--enable-llc"}},
	{Name: "steal", Args: []string{"--enable-stealing"}, Requires: []FlagName{"llc"}},
}}

func names(ps []Profile) []string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return n
}

func TestGenerateProfiles(t *testing.T) {
	six := &Scheduler{Name: "six", Flags: []Flag{{Name: "a"}, {Name: "b"}, {Name: "c", Requires: []FlagName{"a"}}, {Name: "d"}, {Name: "e"}, {Name: "f"}}}
	for _, tc := range []struct {
		name               string
		s                  *Scheduler
		required, excluded []FlagName
		want               []string
		count              int
		wantErr            string
	}{
		{name: "no flags", s: &Scheduler{Name: "x"}, want: []string{"default"}},
		{name: "nil scheduler", s: nil, want: []string{"default"}},
		{name: "all", s: llcSteal, want: []string{"default", "llc", "llc+steal"}},
		{name: "required llc", s: llcSteal, required: []FlagName{"llc"}, want: []string{"llc", "llc+steal"}},
		{name: "excluded steal", s: llcSteal, excluded: []FlagName{"steal"}, want: []string{"default", "llc"}},
		{name: "required steal alone is invalid", s: llcSteal, required: []FlagName{"steal"}, want: []string{"llc+steal"}},
		{name: "six flags one dependency", s: six, count: 48},
		{name: "six flags, two required", s: six, required: []FlagName{"a", "c"}, count: 16},
		{name: "steal without llc", s: llcSteal, required: []FlagName{"steal"}, excluded: []FlagName{"llc"}, wantErr: `required flag "steal" needs "llc", which is excluded`},
		{name: "unknown required", s: llcSteal, required: []FlagName{"borrow"}, wantErr: `RequiredFlags: unknown flag "borrow" (my_sched declares llc+steal)`},
		{name: "unknown excluded", s: llcSteal, excluded: []FlagName{"x"}, wantErr: `ExcludedFlags: unknown flag "x"`},
		{name: "both", s: llcSteal, required: []FlagName{"llc"}, excluded: []FlagName{"llc"}, wantErr: `flag "llc" is both required and excluded`},
		{name: "bad declaration", s: &Scheduler{Flags: []Flag{{Name: "a", Requires: []FlagName{"zz"}}, {Name: "a"}}}, wantErr: `declared twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.GenerateProfiles(tc.required, tc.excluded)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, names(got)); diff != "" {
					t.Errorf("profiles (-want +got):\n%s", diff)
				}
			}
			if tc.count != 0 && len(got) != tc.count {
				t.Errorf("%d profiles, want %d", len(got), tc.count)
			}
		})
	}
	_, err := llcSteal.GenerateProfiles([]FlagName{"steal"}, []FlagName{"llc"})
	if !errors.Is(err, ErrNoProfiles) {
		t.Errorf("want ErrNoProfiles, got %v", err)
	}
}

func TestProfileOrderAndContent(t *testing.T) {
	s := &Scheduler{Flags: []Flag{{Name: "x", Args: []string{"-x"}}, {Name: "y", Args: []string{"-y", "1"}}, {Name: "z"}}}
	got, err := s.GenerateProfiles(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"default", "x", "y", "z", "x+y", "x+z", "y+z", "x+y+z"}
	if diff := cmp.Diff(want, names(got)); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"-x", "-y", "1"}, got[4].Args); diff != "" {
		t.Errorf("x+y args (-want +got):\n%s", diff)
	}
	// Every profile has its flags in declaration order and meets every
	// requirement.
	six := &Scheduler{Flags: []Flag{{Name: "a"}, {Name: "b", Requires: []FlagName{"a"}}, {Name: "c", Requires: []FlagName{"b"}}}}
	ps, _ := six.GenerateProfiles(nil, nil)
	if diff := cmp.Diff([]string{"default", "a", "a+b", "a+b+c"}, names(ps)); diff != "" {
		t.Errorf("chain (-want +got):\n%s", diff)
	}
}

func TestArgsOrder(t *testing.T) {
	s := &Scheduler{ConfigFile: "/host/cfg.json", SchedArgs: []string{"--sched"}, Flags: llcSteal.Flags}
	p := Profile{Name: "llc", Flags: []FlagName{"llc"}, Args: []string{"--enable-llc"}}
	got := s.Args("/ktstr/sched/cfg.json", []string{"--extra", "1"}, p)
	want := []string{"--config", "/ktstr/sched/cfg.json", "--sched", "--extra", "1", "--enable-llc"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if got := (&Scheduler{SchedArgs: []string{"-a"}}).Args("", nil, Profile{}); !cmp.Equal(got, []string{"-a"}) {
		t.Errorf("no config: %v", got)
	}
}
