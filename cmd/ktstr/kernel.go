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
content-hash key. A cached kernel with the same key is reused at once, unless
its files are damaged: then it is rebuilt.

ktstr's kernel patches (kernel/patches: the sched_ext watchdog override that
WatchdogTimeoutS needs) are applied to the tree extracted from Debian's
tarball. A --source tree is built as it is; when it lacks the watchdog
override, the build says so.`,
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
		Long: `List the cached kernels, newest first, each marked current (built by this
ktstr's recipe, fragment and patches, with intact files: what tests boot
without KTSTR_KERNEL), stale (older recipe, other fragment or other patches:
used only when KTSTR_KERNEL names it) or corrupt (files do not match meta.json:
never used), with the reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			imgs, err := kernel.List()
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]listedKernel, 0, len(imgs))
				for _, i := range imgs {
					status, why := kernelStatus(i)
					out = append(out, listedKernel{Image: i, Status: status, Why: why})
				}
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if len(imgs) == 0 {
				fmt.Println("no cached kernels: run `ktstr kernel build`")
				return nil
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KEY\tSTATUS\tRELEASE\tBUILT\tSOURCE\tDIR")
			current := false
			var notes []string
			for _, i := range imgs {
				status, why := kernelStatus(i)
				current = current || status == "current"
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", i.Key, status, i.Release, i.Built.Local().Format(time.DateTime), i.Source, i.Dir)
				if why != "" {
					notes = append(notes, fmt.Sprintf("%s %s: %s", i.Key, status, why))
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Println(n)
			}
			if !current {
				fmt.Println("no current kernel: run `ktstr kernel build`")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// listedKernel is one entry of `ktstr kernel list --json`: the image's
// fields, then Status ("current", "stale" or "corrupt") and Why.
type listedKernel struct {
	kernel.Image
	Status string
	Why    string `json:",omitempty"`
}

// kernelStatus returns "current", "stale" or "corrupt" for a cache entry,
// and why it is not current.
func kernelStatus(i kernel.Image) (status, why string) {
	switch {
	case i.Corrupt != "" && i.Stale != "":
		return "stale", i.Stale + "; corrupt: " + i.Corrupt
	case i.Corrupt != "":
		return "corrupt", i.Corrupt
	case i.Stale != "":
		return "stale", i.Stale
	}
	return "current", ""
}
