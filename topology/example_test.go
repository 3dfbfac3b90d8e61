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
	t := topology.New(2, 2, 1, 1)
	sizes, err := t.NodeMemoryMB(2049)
	if err != nil {
		panic(err)
	}
	args, err := t.QEMUArgs([]string{"mem0", "mem1"})
	if err != nil {
		panic(err)
	}
	fmt.Println(sizes)
	fmt.Println(strings.Join(args, " "))
	// Output:
	// [1024 1025]
	// -smp 2,sockets=2,cores=1,threads=1 -numa node,nodeid=0,cpus=0-0,memdev=mem0 -numa node,nodeid=1,cpus=1-1,memdev=mem1 -numa dist,src=0,dst=1,val=20 -numa dist,src=1,dst=0,val=20
}
