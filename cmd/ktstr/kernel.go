package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr/kernel"
)

func kernelCmd() *cobra.Command {
	c := &cobra.Command{Use: "kernel", Short: "Build and list guest kernels"}
	c.AddCommand(kernelBuildCmd(), kernelListCmd())
	return c
}

func kernelBuildCmd() *cobra.Command {
	var opts kernel.BuildOptions
	c := &cobra.Command{
		Use:   "build",
		Short: "Build a sched_ext-capable guest kernel and cache it",
		Long: `Build a guest kernel from Debian's linux-source-6.12 (installed with apt-get
when missing and running as root) or from the kernel tree given with --source,
with ktstr's config fragment, and cache bzImage, vmlinux and .config under a
content-hash key. A cached kernel with the same key is reused at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Progress = os.Stderr
			start := time.Now()
			img, err := kernel.Build(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Printf("kernel %s (%s) ready in %s\n  %s\n", img.Key, img.Release, time.Since(start).Round(time.Second), img.BzImage)
			return nil
		},
	}
	c.Flags().StringVar(&opts.Source, "source", "", "kernel source tree (default: Debian's linux-source-6.12)")
	c.Flags().IntVarP(&opts.Jobs, "jobs", "j", 0, "parallel make jobs (default: CPU count)")
	c.Flags().BoolVar(&opts.Force, "force", false, "rebuild even if the cache has this kernel")
	return c
}

func kernelListCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List cached kernels, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			imgs, err := kernel.List()
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(imgs)
			}
			if len(imgs) == 0 {
				fmt.Println("no cached kernels: run `ktstr kernel build`")
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tRELEASE\tBUILT\tSOURCE\tDIR")
			for _, i := range imgs {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", i.Key, i.Release, i.Built.Local().Format(time.DateTime), i.Source, i.Dir)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
