package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ktstr-go/ktstr/report"
)

func compareCmd() *cobra.Command {
	var format string
	var thresholds []string
	var ignore []string
	c := &cobra.Command{
		Use:   "compare BASE NEW",
		Short: "Compare two sets of runs (directories of JSON records, or record files); exit 1 on a regression",
		Long: `Pair the runs of BASE and NEW by test, topology, scheduler, profile and kernel
(--ignore leaves fields out, e.g. --ignore scheduler to compare two schedulers)
and show, per cgroup and metric, base, new, the change and whether it is
significant: beyond both the metric's absolute and relative threshold
(--threshold METRIC=ABS,REL overrides them; REL 0.1 is 10%) and, with at
least two runs a side, a Mann-Whitney U test at p < 0.05. Runs only on one
side are listed. The exit status is 1 when a pair regressed (a run that
passed in BASE fails in NEW, or a metric got significantly worse), so CI can
gate on it. --format text, markdown (for a pull-request comment), json, or
bench: NEW's runs in Go benchmark format, for benchstat.

Metrics: spread (pct), p99_wake (ns), max_gap (ms), work_rate (units/s),
off_cpu (pct), migration_ratio.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := readRecords(args[0])
			if err != nil {
				return err
			}
			new, err := readRecords(args[1])
			if err != nil {
				return err
			}
			if format == report.FormatBench {
				return report.WriteBench(cmd.OutOrStdout(), new)
			}
			ms := report.Metrics()
			for _, t := range thresholds {
				if err := report.ParseThreshold(ms, t); err != nil {
					return err
				}
			}
			var fields []string
			for _, f := range ignore {
				fields = append(fields, strings.Split(f, ",")...)
			}
			c, err := report.Compare(base, new, ms, fields)
			if err != nil {
				return err
			}
			if err := report.WriteComparison(cmd.OutOrStdout(), c, format); err != nil {
				return err
			}
			if c.Regressions > 0 {
				return exitCode(1)
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", report.FormatText, "text, markdown, json or bench")
	c.Flags().StringArrayVar(&thresholds, "threshold", nil, "METRIC=ABS,REL: a metric's significance thresholds; repeatable")
	c.Flags().StringArrayVar(&ignore, "ignore", nil, "key fields not to pair by: test, topology, scheduler, profile, kernel")
	return c
}

// readRecords reads a directory of records, or one record file.
func readRecords(path string) ([]report.Record, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return report.Read(path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r report.Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%s: not a ktstr record: %w", path, err)
	}
	return []report.Record{r}, nil
}
