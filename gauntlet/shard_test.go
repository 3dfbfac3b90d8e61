package gauntlet

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
)

func TestShardPartition(t *testing.T) {
	var keys []string
	for i := range 300 {
		keys = append(keys, fmt.Sprintf("Test%d/gauntlet/preset-%d/default", i%7, i))
	}
	for n := 1; n <= 7; n++ {
		per := make([]int, n)
		for _, k := range keys {
			owners := 0
			for i := range n {
				if (Shard{Index: i, Count: n}).Owns(k) {
					owners++
					per[i]++
				}
			}
			if owners != 1 {
				t.Fatalf("n=%d: %q owned by %d shards", n, k, owners)
			}
			h := fnv.New64a()
			h.Write([]byte(k))
			if !(Shard{Index: int(h.Sum64() % uint64(n)), Count: n}).Owns(k) {
				t.Fatalf("n=%d: %q not owned by FNV-1a mod n", n, k)
			}
		}
		for i, c := range per {
			if c < len(keys)/n/2 {
				t.Errorf("n=%d: shard %d owns only %d of %d keys", n, i, c, len(keys))
			}
		}
	}
	for _, s := range []Shard{{}, {Index: 0, Count: 1}} {
		if !s.Owns("anything") {
			t.Errorf("%v does not own everything", s)
		}
	}
}

func TestApplyShard(t *testing.T) {
	in := bigInput()
	all := Expand(in)
	candidates := 0
	for _, v := range all {
		if v.Skip == "" {
			candidates++
		}
	}
	for n := 1; n <= 7; n++ {
		owner := map[string]int{}
		total := 0
		for i := range n {
			s := Shard{Index: i, Count: n}
			vs := Expand(in)
			kept := ApplyShard(vs, s)
			total += kept
			got := 0
			for j, v := range vs {
				switch {
				case all[j].Skip != "":
					if v.Skip != all[j].Skip {
						t.Errorf("%s: Skip %q became %q", v.Name, all[j].Skip, v.Skip)
					}
				case v.Skip == "":
					got++
					if o, dup := owner[v.Key]; dup {
						t.Errorf("n=%d: %s on shards %d and %d", n, v.Key, o, i)
					}
					owner[v.Key] = i
				default:
					want := fmt.Sprintf("shard %d/%d: runs on shard ", i, n)
					if !strings.HasPrefix(v.Skip, want) {
						t.Errorf("%s: Skip %q, want prefix %q", v.Name, v.Skip, want)
					}
					var j int
					fmt.Sscanf(v.Skip[len(want):], "%d", &j)
					if j == i || !(Shard{Index: j, Count: n}).Owns(v.Key) {
						t.Errorf("%s: Skip %q names the wrong shard", v.Name, v.Skip)
					}
				}
			}
			if got != kept {
				t.Errorf("ApplyShard returned %d, %d run", kept, got)
			}
		}
		if total != candidates || len(owner) != candidates {
			t.Errorf("n=%d: shards run %d (%d distinct) of %d candidates", n, total, len(owner), candidates)
		}
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		err  string
	}{
		{in: "0/1", want: Shard{0, 1}},
		{in: "3/4", want: Shard{3, 4}},
		{in: " 1/2 ", want: Shard{1, 2}},
		{in: "", err: `want INDEX/COUNT, for example 0/4`},
		{in: "3", err: `want INDEX/COUNT`},
		{in: "a/2", err: `index "a" is not a number: want 0 to 1`},
		{in: "1/b", err: `count "b" is not a number: want a whole number of shards, at least 1`},
		{in: "1/2/3", err: `count "2/3" is not a number`},
		{in: "2/2", err: `index 2 is out of range for 2 shards: shards are numbered 0 to 1`},
		{in: "-1/2", err: `index -1 is out of range for 2 shards`},
		{in: "0/0", err: `count 0: want at least 1 shard`},
	} {
		got, err := ParseShard(tc.in)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseShard(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseShard(%q) error %v, want %q", tc.in, err, tc.err)
		}
	}
	if s := (Shard{2, 5}).String(); s != "2/5" {
		t.Errorf("String = %q", s)
	}
}

func TestShardFromEnv(t *testing.T) {
	for _, tc := range []struct {
		shard, shards, index string
		want                 Shard
		ok                   bool
		err                  string
	}{
		{},
		{index: "3"}, // an Indexed Job without KTSTR_SHARDS: no sharding
		{shard: "1/3", want: Shard{1, 3}, ok: true},
		{shard: "1/3", index: "2", want: Shard{1, 3}, ok: true}, // KTSTR_SHARD wins
		{shard: "1/3", shards: "3", index: "0", want: Shard{1, 3}, ok: true},
		{shards: "4", index: "2", want: Shard{2, 4}, ok: true},
		{shards: "1", index: "0", want: Shard{0, 1}, ok: true},
		{shard: "3/3", err: "KTSTR_SHARD: shard \"3/3\": index 3 is out of range for 3 shards"},
		{shard: "1/3", shards: "4", err: "KTSTR_SHARD=1/3 says 3 shards but KTSTR_SHARDS=4: unset KTSTR_SHARDS or make the counts agree"},
		{shard: "1/3", shards: "x", err: "KTSTR_SHARDS=x: count \"x\" is not a number"},
		{shards: "4", err: "KTSTR_SHARDS=4 but JOB_COMPLETION_INDEX is unset: run as a Kubernetes Indexed Job, or set KTSTR_SHARD=INDEX/4 instead"},
		{shards: "4", index: "4", err: "JOB_COMPLETION_INDEX=4 with KTSTR_SHARDS=4: index 4 is out of range for 4 shards: shards are numbered 0 to 3 (give the Indexed Job 4 completions)"},
		{shards: "4", index: "x", err: "JOB_COMPLETION_INDEX=x with KTSTR_SHARDS=4: index \"x\" is not a number"},
		{shards: "0", index: "0", err: "KTSTR_SHARDS=0: count 0: want at least 1 shard"},
	} {
		got, ok, err := ShardFromEnv(tc.shard, tc.shards, tc.index)
		name := fmt.Sprintf("ShardFromEnv(%q, %q, %q)", tc.shard, tc.shards, tc.index)
		switch {
		case tc.err == "" && (err != nil || ok != tc.ok || got != tc.want):
			t.Errorf("%s = %v, %v, %v; want %v, %v", name, got, ok, err, tc.want, tc.ok)
		case tc.err != "" && (err == nil || ok || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s = %v, %v, %v; want error %q", name, got, ok, err, tc.err)
		}
	}
}
