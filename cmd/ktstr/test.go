package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/spf13/cobra"
)

func testCmd() *cobra.Command {
	var gauntletOn bool
	var budget, jobs int
	var shard string
	c := &cobra.Command{
		Use:   "test [--gauntlet] [--budget SECS] [--shard I/N] [--jobs N] [PACKAGES] [-- GO TEST FLAGS]",
		Short: "Run go test on PACKAGES with the gauntlet, a budget or a shard",
		Long: `Run go test -p 1 -timeout 60m PACKAGES (default ./...) with the environment
the flags set: --gauntlet (KTSTR_GAUNTLET=1) expands every ktstr.Run over the
topology presets, flag profiles and kernels; --budget (KTSTR_BUDGET_SECS)
keeps, per test, the variants that cover the most features per second;
--shard I/N (KTSTR_SHARD) runs this machine's share; --jobs (KTSTR_JOBS) sets
how many VMs run at once. Flags after -- go to go test.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			pkgs, goFlags := args, []string(nil)
			if at := cmd.ArgsLenAtDash(); at >= 0 {
				pkgs, goFlags = args[:at], args[at:]
			}
			if len(pkgs) == 0 {
				pkgs = []string{"./..."}
			}
			gocmd := exec.CommandContext(cmd.Context(), goTool(), append(append([]string{"test", "-p", "1", "-timeout", "60m"}, goFlags...), pkgs...)...)
			gocmd.Env = os.Environ()
			set := func(k, v string) { gocmd.Env = append(gocmd.Env, k+"="+v) }
			if gauntletOn {
				set("KTSTR_GAUNTLET", "1")
			}
			if budget > 0 {
				set("KTSTR_BUDGET_SECS", strconv.Itoa(budget))
			}
			if shard != "" {
				set("KTSTR_SHARD", shard)
			}
			if jobs > 0 {
				set("KTSTR_JOBS", strconv.Itoa(jobs))
			}
			gocmd.Stdin, gocmd.Stdout, gocmd.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := gocmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					return exitCode(ee.ExitCode())
				}
				return fmt.Errorf("go test: %w", err)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&gauntletOn, "gauntlet", false, "expand every test over presets, profiles and kernels (KTSTR_GAUNTLET=1)")
	c.Flags().IntVar(&budget, "budget", 0, "seconds each test's gauntlet may take (KTSTR_BUDGET_SECS)")
	c.Flags().StringVar(&shard, "shard", "", "this machine's share of the gauntlet, I/N (KTSTR_SHARD)")
	c.Flags().IntVar(&jobs, "jobs", 0, "VMs at once (KTSTR_JOBS)")
	return c
}
