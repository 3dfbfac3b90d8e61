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
	return c
}
