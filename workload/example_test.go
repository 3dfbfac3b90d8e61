package workload_test

import (
	"fmt"
	"time"

	"github.com/ktstr-go/ktstr/workload"
)

func Example() {
	s, err := workload.Start(workload.Spec{Kind: workload.FutexPingPong(), Count: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	time.Sleep(100 * time.Millisecond)
	reports, err := s.Stop()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range reports {
		fmt.Println(r.Index, r.Kind, r.WorkUnits > 0, r.WakeCount > 0)
	}
	// Output:
	// 0 FutexPingPong true true
	// 1 FutexPingPong true true
}

// hashing is a Custom work type. It is registered in a package-level
// variable, so that worker processes, which run the same package
// initialization, find it.
var hashing = workload.Custom("hashing", func(c *workload.Control) error {
	h := uint64(14695981039346656037)
	for c.Running() {
		for i := range 1000 {
			h = (h ^ uint64(i)) * 1099511628211
		}
		c.Progress(1000)
	}
	_ = h
	return nil
})

func ExampleCustom() {
	s, err := workload.Start(workload.Spec{Kind: hashing, Count: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	time.Sleep(50 * time.Millisecond)
	reports, err := s.Stop()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(reports[0].Kind, reports[0].WorkUnits == 1000*reports[0].Iterations)
	// Output: hashing true
}

func ExampleSequence() {
	k := workload.Sequence(workload.Spin(10*time.Millisecond), workload.Sleep(5*time.Millisecond))
	fmt.Println(k, k.GroupSize())
	// Output: Sequence(Spin(10ms), Sleep(5ms)) 1
}
