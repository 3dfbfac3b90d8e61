// Command ktstr builds guest kernels and schedulers, inspects guest
// topologies and measures boot overhead for ktstr tests.
//
//	ktstr kernel build [--source DIR]   build and cache a sched_ext kernel
//	ktstr kernel list [--json]          list cached kernels
//	ktstr topo SHAPE [--json]           boot SHAPE and print what the guest sees
//	ktstr test [--gauntlet] [PACKAGES]  go test with the gauntlet, a budget or a shard
//	ktstr list [--gauntlet] [PACKAGES]  list tests and gauntlet variants, booting nothing
//	ktstr report DIR | merge DIR...     summarize (and merge shards of) JSON records
//	ktstr shell [--exec CMD]            a shell in the guest a test would get
//
// Inside a VM the same binary is the guest's init (see package guest).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr/internal/guest"
	"github.com/ktstr-go/ktstr/internal/proto"
	"github.com/ktstr-go/ktstr/vm"
)

func main() {
	if guest.IsInit() {
		guest.Init() // does not return
	}
	if os.Getenv(proto.EnvRole) == proto.RoleSentinel {
		// ktstr shell's guest watches its scheduler as a test's does.
		os.Exit(guest.SentinelMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root().ExecuteContext(ctx)
	vm.KillAll("ktstr exiting")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ktstr:", err)
		if ec, ok := err.(exitCode); ok {
			os.Exit(int(ec))
		}
		os.Exit(1)
	}
}

// exitCode is an error that carries only an exit status (the command has
// already said why).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func root() *cobra.Command {
	c := &cobra.Command{
		Use:           "ktstr",
		Short:         "Test Linux schedulers in VMs of any CPU topology",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	c.AddCommand(kernelCmd(), topoCmd(), reportCmd(), schedCmd(), listCmd(), testCmd(), shellCmd(), compareCmd())
	return c
}
