package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr/internal/schedbuild"
)

func schedCmd() *cobra.Command {
	c := &cobra.Command{Use: "sched", Short: "Build and list sched_ext scheduler binaries"}
	c.AddCommand(schedBuildCmd(), schedListCmd())
	return c
}

func schedBuildCmd() *cobra.Command {
	var opts schedbuild.BuildOptions
	c := &cobra.Command{
		Use:   "build",
		Short: "Build the kernel tree's sched_ext schedulers and cache them",
		Long: `Build scx_simple, scx_qmap, scx_central and scx_flatcg from tools/sched_ext of
the kernel's own source tree, against its vmlinux BTF, and cache them under
<cache>/schedulers/<kernel key>/. The kernel is the one tests use
(KTSTR_KERNEL, else the newest cached kernel). A complete entry is reused
unless --force. Inside the ktstr module the project's scx_fixture is built too.
Tests find the binaries with ktstr.Discover("scx_simple").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Progress = os.Stderr
			start := time.Now()
			built, err := schedbuild.Build(cmd.Context(), opts)
			for _, b := range built {
				fmt.Printf("%-12s %s\n", b.Name, b.Path)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "ktstr: sched: %d schedulers ready in %s\n", len(built), time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	c.Flags().IntVarP(&opts.Jobs, "jobs", "j", 0, "parallel make jobs (default: CPU count)")
	c.Flags().BoolVar(&opts.Force, "force", false, "rebuild even if the cache has the schedulers")
	c.Flags().BoolVar(&opts.SkipFixture, "no-fixture", false, "do not build the project's scx_fixture")
	return c
}

func schedListCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List cached scheduler builds, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := schedbuild.List()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				if entries == nil {
					entries = []schedbuild.Entry{}
				}
				return enc.Encode(entries)
			}
			if len(entries) == 0 {
				fmt.Println("no cached schedulers: run `ktstr sched build`")
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KERNEL\tRELEASE\tBUILT\tSCHEDULERS\tDIR")
			for _, e := range entries {
				names := make([]string, len(e.Schedulers))
				for i, b := range e.Schedulers {
					names[i] = b.Name
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.Key, e.KernelRelease, e.Built.Local().Format(time.DateTime),
					strings.Join(names, ","), e.Dir)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
