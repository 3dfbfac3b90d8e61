package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// manifestSuffix ends the file name of a Manifest.
const manifestSuffix = ".manifest.json"

// ManifestEntry is one run a gauntlet planned: a variant (or the plain
// case) by its full test name.
type ManifestEntry struct {
	Name string `json:"name"`
	// Runs is set when the shard that wrote the manifest runs it;
	// Elsewhere when another shard does. Skip says why it does not run
	// here.
	Runs      bool   `json:"runs"`
	Elsewhere bool   `json:"elsewhere,omitempty"`
	Skip      string `json:"skip,omitempty"`
}

// Expected reports whether some shard runs the entry.
func (e ManifestEntry) Expected() bool { return e.Runs || e.Elsewhere }

// Manifest is what one machine's gauntlet of one test planned: every
// variant, and which it runs. Every shard writes one beside its records.
type Manifest struct {
	Package    string          `json:"package,omitempty"`
	Test       string          `json:"test"`
	Iteration  int             `json:"iteration"`
	Occurrence int             `json:"occurrence"`
	Shard      string          `json:"shard,omitempty"`
	Budget     string          `json:"budget,omitempty"`
	Plain      ManifestEntry   `json:"plain"`
	Variants   []ManifestEntry `json:"variants"`
}

// FileName is the file WriteManifest uses for m: unique per package,
// test, iteration, occurrence and shard.
func (m Manifest) FileName() string {
	id := fmt.Sprintf("%s\x00%s\x00%d\x00%d\x00%s", m.Package, m.Test, m.Iteration, m.Occurrence, m.Shard)
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%s.%s%s", safeName(m.Test), hex.EncodeToString(sum[:6]), manifestSuffix)
}

// WriteManifest writes m into dir, as Write writes a record.
func WriteManifest(dir string, m Manifest) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return writeAtomic(dir, m.FileName(), append(raw, '\n'))
}

// Merged is the records of several directories (the shards of one
// gauntlet) and what their manifests expected.
type Merged struct {
	Records []Record `json:"records"`
	// Expected are the runs some shard's manifest planned; Missing those
	// without a record; Duplicates those with records from more than one
	// directory.
	Expected   []string `json:"expected"`
	Missing    []string `json:"missing,omitempty"`
	Duplicates []string `json:"duplicates,omitempty"`
}

// Merge reads the records and manifests of dirs and says which planned
// runs have no record.
func Merge(dirs ...string) (Merged, error) {
	var m Merged
	var errs []error
	expected := map[string]bool{}
	seenIn := map[string]string{}
	dup := map[string]bool{}
	for _, dir := range dirs {
		recs, mans, err := readDir(dir)
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range recs {
			key := fmt.Sprintf("%s\x00%s\x00%d\x00%d", r.Package, r.Test, r.Iteration, r.Replica)
			if other, ok := seenIn[key]; ok && other != dir {
				dup[r.Test] = true
			}
			seenIn[key] = dir
			m.Records = append(m.Records, r)
		}
		for _, man := range mans {
			for _, e := range append([]ManifestEntry{man.Plain}, man.Variants...) {
				if e.Name != "" && e.Expected() {
					expected[e.Name] = true
				}
			}
		}
	}
	sortRecords(m.Records)
	for name := range expected {
		m.Expected = append(m.Expected, name)
		if !slices.ContainsFunc(m.Records, func(r Record) bool { return covers(name, r.Test) }) {
			m.Missing = append(m.Missing, name)
		}
	}
	for name := range dup {
		m.Duplicates = append(m.Duplicates, name)
	}
	sort.Strings(m.Expected)
	sort.Strings(m.Missing)
	sort.Strings(m.Duplicates)
	return m, errors.Join(errs...)
}

// covers reports whether a record of test is the run name (or one of its
// replicas).
func covers(name, test string) bool {
	return test == name || strings.HasPrefix(test, name+"/replica_")
}

// SummarizeMerged writes Summarize's table, then what is missing.
func SummarizeMerged(w io.Writer, m Merged) error {
	if err := Summarize(w, m.Records); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d planned run(s), %d missing\n", len(m.Expected), len(m.Missing))
	for _, n := range m.Missing {
		fmt.Fprintf(w, "  missing: %s (its shard wrote no record)\n", n)
	}
	for _, n := range m.Duplicates {
		fmt.Fprintf(w, "  duplicate: %s (records in more than one directory)\n", n)
	}
	return nil
}

// readDir reads the records and manifests in dir.
func readDir(dir string) ([]Record, []Manifest, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, nil, err
	}
	var recs []Record
	var mans []Manifest
	var errs []error
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if strings.HasSuffix(f, manifestSuffix) {
			var m Manifest
			if err := json.Unmarshal(raw, &m); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
				continue
			}
			mans = append(mans, m)
			continue
		}
		var r Record
		if err := json.Unmarshal(raw, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		recs = append(recs, r)
	}
	return recs, mans, errors.Join(errs...)
}
