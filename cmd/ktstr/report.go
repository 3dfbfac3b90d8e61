package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr/report"
)

func reportCmd() *cobra.Command {
	var asJSON bool
	var htmlOut string
	c := &cobra.Command{
		Use:   "report DIR...",
		Short: "Summarize the JSON results test runs wrote (KTSTR_RESULTS_DIR); --html OUT writes a page with charts",
		Long: `Summarize the JSON records of each DIR (KTSTR_RESULTS_DIR) as a table, or as
JSON with --json. With --html OUT, also write one self-contained HTML file
(no script, nothing fetched): a summary table whose failures link to their
guest logs, and per test the runs side by side as inline SVG charts:
off-CPU share per worker, fairness spread, longest gap, migrations, the
wake-latency distribution, and the monitor's per-CPU nr_running and local
DSQ depth over time with any violation window shaded. Exits non-zero when a
run failed.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var recs []report.Record
			var err error
			for _, dir := range args {
				r, rerr := report.Read(dir)
				if rerr != nil && len(r) == 0 {
					return rerr
				}
				recs, err = append(recs, r...), errors.Join(err, rerr)
			}
			if htmlOut != "" {
				if herr := writeHTML(htmlOut, recs); herr != nil {
					return herr
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "ktstr report: wrote %s (%d runs)\n", htmlOut, len(recs))
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(recs)
			}
			if err := report.Summarize(os.Stdout, recs); err != nil {
				return err
			}
			for _, r := range recs {
				if !r.Passed {
					return exitCode(1)
				}
			}
			return err
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the records as one JSON array")
	c.Flags().StringVar(&htmlOut, "html", "", "also write a self-contained HTML report with charts to this file")
	c.AddCommand(reportMergeCmd())
	return c
}

func reportMergeCmd() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "merge DIR...",
		Short: "Merge the records of a sharded gauntlet and say which runs are missing",
		Long: `Read the JSON records and gauntlet manifests of every DIR (one per shard, or
one shared directory), print one summary, and list the planned runs no
shard recorded. With --out, also write everything as one JSON file. Exits
non-zero when a run failed or is missing.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := report.Merge(args...)
			if err != nil && len(m.Records) == 0 {
				return err
			}
			if out != "" {
				raw, jerr := json.MarshalIndent(m, "", "  ")
				if jerr != nil {
					return jerr
				}
				if werr := os.WriteFile(out, append(raw, '\n'), 0o644); werr != nil {
					return werr
				}
			}
			if serr := report.SummarizeMerged(cmd.OutOrStdout(), m); serr != nil {
				return serr
			}
			if len(m.Missing) > 0 {
				return exitCode(1)
			}
			for _, r := range m.Records {
				if !r.Passed {
					return exitCode(1)
				}
			}
			return err
		},
	}
	c.Flags().StringVar(&out, "out", "", "write the merged records and what is missing to this JSON file")
	return c
}

// writeHTML writes the HTML report of recs to path, atomically.
func writeHTML(path string, recs []report.Record) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := report.WriteHTML(f, recs); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
