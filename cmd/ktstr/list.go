package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr"
)

func listCmd() *cobra.Command {
	var gauntletOn, asJSON bool
	var run string
	c := &cobra.Command{
		Use:   "list [--gauntlet] [--json] [--run REGEXP] [PACKAGES]",
		Short: "List tests and their gauntlet variants, without booting anything",
		Long: `List the tests of PACKAGES (default ./...) that call ktstr.Run: their
topology, scheduler and profile, and with --gauntlet every variant
(preset, profile, kernel) with its estimated time and the reason it would be
skipped (constraints, host limits, the KTSTR_BUDGET_SECS budget, the
KTSTR_SHARD shard). It runs go test with KTSTR_LIST=1: each ktstr.Run call
describes itself and skips, and tests that need a VM skip too; other tests run
as usual (restrict them with --run).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"./..."}
			}
			goArgs := append([]string{"test", "-count=1", "-v", "-run", run}, args...)
			gocmd := exec.CommandContext(cmd.Context(), goTool(), goArgs...)
			gocmd.Env = append(os.Environ(), "KTSTR_LIST=1")
			if gauntletOn {
				gocmd.Env = append(gocmd.Env, "KTSTR_GAUNTLET=1")
			}
			var out bytes.Buffer
			gocmd.Stdout, gocmd.Stderr = &out, cmd.ErrOrStderr()
			runErr := gocmd.Run()
			listings, err := parseListings(&out)
			if err != nil {
				return err
			}
			if len(listings) == 0 && runErr != nil {
				return fmt.Errorf("go test: %w\n%s", runErr, out.String())
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(listings)
			}
			return printListings(cmd.OutOrStdout(), listings)
		},
	}
	c.Flags().BoolVar(&gauntletOn, "gauntlet", false, "list every gauntlet variant too")
	c.Flags().BoolVar(&asJSON, "json", false, "print one JSON array")
	c.Flags().StringVar(&run, "run", ".", "go test -run pattern of the tests to list")
	return c
}

// goTool is the go command: $GOROOT/bin/go when that exists, else go on
// PATH.
func goTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if _, err := os.Stat(root + "/bin/go"); err == nil {
			return root + "/bin/go"
		}
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// parseListings reads the ktstr-list lines of go test's output.
func parseListings(r io.Reader) ([]ktstr.Listing, error) {
	var out []ktstr.Listing
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		_, raw, ok := strings.Cut(sc.Text(), "ktstr-list ")
		if !ok {
			continue
		}
		var l ktstr.Listing
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("ktstr list: a listing line: %w", err)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

func printListings(w io.Writer, ls []ktstr.Listing) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TEST\tTOPOLOGY\tSCHEDULER\tEST\tSKIP")
	variants, running := 0, 0
	for _, l := range ls {
		sched := l.Scheduler
		if l.Profile != "" && l.Profile != "default" {
			sched += " [" + l.Profile + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\t%s\n", l.Test, l.Topology, sched, l.Skip)
		for _, v := range l.Variants {
			variants++
			if v.Skip == "" {
				running++
			}
			name := "  " + v.Name
			if v.Kernel != "" {
				name += " (" + v.Kernel + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.0fs\t%s\n", name, v.Topology, v.Profile, v.Estimate, v.Skip)
		}
		if l.Budget != "" {
			fmt.Fprintf(tw, "  %s\t\t\t\t\n", l.Budget)
		}
	}
	fmt.Fprintf(tw, "\n%d test(s), %d gauntlet variant(s), %d would run\n", len(ls), variants, running)
	return tw.Flush()
}
