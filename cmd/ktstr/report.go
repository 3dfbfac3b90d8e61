package main

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr/report"
)

func reportCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "report DIR",
		Short: "Summarize the JSON results a test run wrote to DIR (KTSTR_RESULTS_DIR)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := report.Read(args[0])
			if err != nil && len(recs) == 0 {
				return err
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
