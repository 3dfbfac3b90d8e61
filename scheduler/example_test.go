package scheduler_test

import (
	"fmt"

	"github.com/ktstr-go/ktstr/scheduler"
)

func ExampleScheduler_GenerateProfiles() {
	s := &scheduler.Scheduler{
		Name:   "my_sched",
		Binary: scheduler.Discover("scx_my_sched"),
		Flags: []scheduler.Flag{
			{Name: "llc", Args: []string{"--enable-llc"}},
			{Name: "steal", Args: []string{"--enable-stealing"}, Requires: []scheduler.FlagName{"llc"}},
			{Name: "borrow", Args: []string{"--borrow"}},
		},
	}
	profiles, err := s.GenerateProfiles([]scheduler.FlagName{"llc"}, nil)
	if err != nil {
		panic(err)
	}
	for _, p := range profiles {
		fmt.Println(p.Name, p.Args)
	}
	_, err = s.GenerateProfiles([]scheduler.FlagName{"steal"}, []scheduler.FlagName{"llc"})
	fmt.Println(err)
	// Output:
	// llc [--enable-llc]
	// llc+steal [--enable-llc --enable-stealing]
	// llc+borrow [--enable-llc --borrow]
	// llc+steal+borrow [--enable-llc --enable-stealing --borrow]
	// no valid flag profile for my_sched with RequiredFlags [steal] and ExcludedFlags [llc]: required flag "steal" needs "llc", which is excluded
}
