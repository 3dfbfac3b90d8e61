package topology_test

import (
	"fmt"
	"strings"

	"github.com/ktstr-go/ktstr/topology"
)

func ExampleParse() {
	t, err := topology.Parse("2n4l1c2t")
	if err != nil {
		panic(err)
	}
	fmt.Println(t.CPUs(), "CPUs; CPU 5 is on LLC", t.LLCOf(5), "of node", t.NodeOf(5))
	fmt.Println("node 1:", topology.FormatList(t.NodeCPUs(1)))
	// Output:
	// 8 CPUs; CPU 5 is on LLC 2 of node 1
	// node 1: 4-7
}

func ExampleTopology_QEMUArgs() {
	args, err := topology.New(1, 2, 4, 2).QEMUArgs(2048)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.Join(args, " "))
	// Output: -m 2048M -smp 16,sockets=2,cores=4,threads=2
}
