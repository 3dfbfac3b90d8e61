package gauntlet

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one machine's share of the variants: Index of Count. The zero
// value (Count 0), like Count 1, owns everything.
type Shard struct {
	Index, Count int
}

// String returns "i/n".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

// ParseShard parses "i/n" with 0 ≤ i < n, as in KTSTR_SHARD.
func ParseShard(s string) (Shard, error) {
	is, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Shard{}, fmt.Errorf("shard %q: want INDEX/COUNT, for example 0/4 for the first of 4 shards", s)
	}
	n, err := parseCount(ns)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: %w", s, err)
	}
	i, err := parseIndex(is, n)
	if err != nil {
		return Shard{}, fmt.Errorf("shard %q: %w", s, err)
	}
	return Shard{Index: i, Count: n}, nil
}

func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		return 0, fmt.Errorf("count %q is not a number: want a whole number of shards, at least 1", s)
	case n < 1:
		return 0, fmt.Errorf("count %d: want at least 1 shard", n)
	}
	return n, nil
}

func parseIndex(s string, n int) (int, error) {
	i, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err != nil:
		return 0, fmt.Errorf("index %q is not a number: want 0 to %d", s, n-1)
	case i < 0 || i >= n:
		return 0, fmt.Errorf("index %d is out of range for %d shards: shards are numbered 0 to %d", i, n, n-1)
	}
	return i, nil
}

// ShardFromEnv works out this machine's shard from the values of
// KTSTR_SHARD (shard), KTSTR_SHARDS (shards) and JOB_COMPLETION_INDEX
// (completionIndex); "" means unset.
//
// KTSTR_SHARD="i/n" wins: JOB_COMPLETION_INDEX is then ignored, and
// KTSTR_SHARDS, if set, must be n too. Otherwise KTSTR_SHARDS=n takes its
// index from JOB_COMPLETION_INDEX=i, as a Kubernetes Indexed Job sets it,
// which must then be set. With neither KTSTR_SHARD nor KTSTR_SHARDS there
// is no sharding (ok is false). Malformed or inconsistent values are
// errors that name the variable and the fix.
func ShardFromEnv(shard, shards, completionIndex string) (Shard, bool, error) {
	shard, shards, completionIndex = strings.TrimSpace(shard), strings.TrimSpace(shards), strings.TrimSpace(completionIndex)
	if shard != "" {
		s, err := ParseShard(shard)
		if err != nil {
			return Shard{}, false, fmt.Errorf("KTSTR_SHARD: %w", err)
		}
		if shards != "" {
			n, err := parseCount(shards)
			if err != nil {
				return Shard{}, false, fmt.Errorf("KTSTR_SHARDS=%s: %w", shards, err)
			}
			if n != s.Count {
				return Shard{}, false, fmt.Errorf("KTSTR_SHARD=%s says %d shards but KTSTR_SHARDS=%d: unset KTSTR_SHARDS or make the counts agree", shard, s.Count, n)
			}
		}
		return s, true, nil
	}
	if shards == "" {
		return Shard{}, false, nil
	}
	n, err := parseCount(shards)
	if err != nil {
		return Shard{}, false, fmt.Errorf("KTSTR_SHARDS=%s: %w", shards, err)
	}
	if completionIndex == "" {
		return Shard{}, false, fmt.Errorf("KTSTR_SHARDS=%d but JOB_COMPLETION_INDEX is unset: run as a Kubernetes Indexed Job, or set KTSTR_SHARD=INDEX/%d instead", n, n)
	}
	i, err := parseIndex(completionIndex, n)
	if err != nil {
		return Shard{}, false, fmt.Errorf("JOB_COMPLETION_INDEX=%s with KTSTR_SHARDS=%d: %w (give the Indexed Job %d completions)", completionIndex, n, err, n)
	}
	return Shard{Index: i, Count: n}, true, nil
}

// owner is the shard that owns key: FNV-1a 64 of key mod Count.
func (s Shard) owner(key string) int {
	if s.Count <= 1 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	return int(h.Sum64() % uint64(s.Count))
}

// Owns reports whether key is this shard's: the FNV-1a 64 hash of key mod
// Count is Index. A shard with Count 0 or 1 owns every key.
func (s Shard) Owns(key string) bool {
	if s.Count <= 1 {
		return true
	}
	return s.owner(key) == s.Index
}

// ApplyShard sets the Skip of the variants that would run (Skip == "") but
// whose Key another shard owns to "shard <i>/<n>: runs on shard <j>", and
// returns how many variants this shard runs.
func ApplyShard(vs []Variant, s Shard) int {
	kept := 0
	for i := range vs {
		if vs[i].Skip != "" {
			continue
		}
		if !s.Owns(vs[i].Key) {
			vs[i].Skip = fmt.Sprintf("shard %s: runs on shard %d", s, s.owner(vs[i].Key))
			continue
		}
		kept++
	}
	return kept
}
