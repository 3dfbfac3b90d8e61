package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr/internal/plan"
	"github.com/ktstr-go/ktstr/internal/runner"
	"github.com/ktstr-go/ktstr/topology"
)

func topoCmd() *cobra.Command {
	var asJSON bool
	var memMB int
	c := &cobra.Command{
		Use:   "topo SHAPE",
		Short: "Boot a VM of SHAPE (e.g. 1n2l4c2t) and print the topology its kernel reports",
		Long: `Boot a VM with the topology SHAPE (<numa>n<llcs>l<cores>c<threads>t) and print
what the guest kernel reports: online CPUs, each LLC's CPUs, SMT siblings, the
CPUs of each NUMA node and the node distance matrix. With --json, print one
JSON object with keys cpus, llcs, smt, numa and distances. Exits non-zero when
the guest's topology differs from SHAPE.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topo, err := topology.Parse(args[0])
			if err != nil {
				return err
			}
			got, err := bootTopo(cmd, topo, memMB)
			if err != nil {
				return err
			}
			if asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(got); err != nil {
					return err
				}
			} else {
				printTopo(cmd.OutOrStdout(), topo, got)
			}
			return checkTopo(cmd.ErrOrStderr(), topo, *got)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	c.Flags().IntVar(&memMB, "memory", 512, "guest memory in MB")
	return c
}

func bootTopo(cmd *cobra.Command, topo topology.Topology, memMB int) (*topology.Observed, error) {
	host, err := runner.HostEnvironment()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "booting %s (%d vCPUs, %d MB) with %s, accel %s\n", topo, topo.CPUs(), memMB, host.Image.BzImage, host.Accel)
	o, err := runner.Run(cmd.Context(), host, plan.Topo(topo, memMB), runner.RunID{}, runner.Hooks{})
	if err != nil {
		return nil, err
	}
	if f := o.Failure(); f != nil {
		return nil, fmt.Errorf("%v", f)
	}
	return o.Topo, nil
}

// checkTopo says how got differs from want, and fails if it does.
func checkTopo(w io.Writer, want topology.Topology, got topology.Observed) error {
	if d := want.Expected().Diff(got); d != nil {
		fmt.Fprintf(w, "guest topology differs from %s:\n  %s\n", want, strings.Join(d, "\n  "))
		return exitCode(1)
	}
	return nil
}

func printTopo(w io.Writer, want topology.Topology, o *topology.Observed) {
	fmt.Fprintf(w, "asked:        %s (%d CPUs)\n", want, want.CPUs())
	fmt.Fprintf(w, "online CPUs:  %d\n", o.CPUs)
	for i, l := range o.LLCs {
		fmt.Fprintf(w, "LLC %-2d        cpus %s\n", i, topology.FormatList(l))
	}
	var smt []string
	for _, s := range o.SMT {
		smt = append(smt, "["+topology.FormatList(s)+"]")
	}
	fmt.Fprintf(w, "SMT siblings: %s\n", strings.Join(smt, " "))
	for n, c := range o.NUMA {
		fmt.Fprintf(w, "node %-2d       cpus %s  distances %v\n", n, topology.FormatList(c), o.Distances[n])
	}
}
