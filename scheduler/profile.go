package scheduler

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Profile is one combination of a scheduler's feature flags.
type Profile struct {
	// Name is the flags joined with "+", or "default" for none.
	Name  string
	Flags []FlagName
	// Args are the flags' arguments, in declaration order.
	Args []string
}

// ErrNoProfiles is wrapped by GenerateProfiles' error when the constraints
// leave no valid profile.
var ErrNoProfiles = errors.New("no valid flag profile")

// GenerateProfiles returns every flag profile a test may run: each subset
// of the optional flags (all flags minus required minus excluded) joined
// with all the required flags, without the profiles in which some flag's
// requirement is absent (a required flag does not pull its requirements in).
// Profiles come in order of size, then of declaration order of their
// flags, so the first is the required flags alone when that is valid; each
// profile's flags are in declaration order.
//
// Unknown names in required or excluded, a flag both required and
// excluded, an unknown or self requirement in the declaration, and
// constraints that leave no profile are errors.
func (s *Scheduler) GenerateProfiles(required, excluded []FlagName) ([]Profile, error) {
	var flags []Flag
	if s != nil {
		flags = s.Flags
	}
	if err := validateDecl(flags); err != nil {
		return nil, err
	}
	index := map[FlagName]int{}
	for i, f := range flags {
		index[f.Name] = i
	}
	var errs []error
	isReq, isExc := map[FlagName]bool{}, map[FlagName]bool{}
	for _, n := range required {
		if _, ok := index[n]; !ok {
			errs = append(errs, fmt.Errorf("RequiredFlags: unknown flag %q (%s declares %s)", n, s.DisplayName(), flagList(flags)))
		}
		isReq[n] = true
	}
	for _, n := range excluded {
		if _, ok := index[n]; !ok {
			errs = append(errs, fmt.Errorf("ExcludedFlags: unknown flag %q (%s declares %s)", n, s.DisplayName(), flagList(flags)))
		}
		if isReq[n] {
			errs = append(errs, fmt.Errorf("flag %q is both required and excluded", n))
		}
		isExc[n] = true
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var optional []int
	for i, f := range flags {
		if !isReq[f.Name] && !isExc[f.Name] {
			optional = append(optional, i)
		}
	}
	var out []Profile
	for size := 0; size <= len(optional); size++ {
		combinations(len(optional), size, func(pick []int) {
			in := make([]bool, len(flags))
			for i, f := range flags {
				in[i] = isReq[f.Name]
			}
			for _, p := range pick {
				in[optional[p]] = true
			}
			if p, ok := profileOf(flags, in, index); ok {
				out = append(out, p)
			}
		})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %s with RequiredFlags %v and ExcludedFlags %v: %s", ErrNoProfiles, s.DisplayName(), required, excluded, whyNone(flags, isReq, isExc))
	}
	return out, nil
}

// profileOf builds the profile of the flags marked in, if every requirement
// is met.
func profileOf(flags []Flag, in []bool, index map[FlagName]int) (Profile, bool) {
	var p Profile
	for i, f := range flags {
		if !in[i] {
			continue
		}
		for _, r := range f.Requires {
			if !in[index[r]] {
				return Profile{}, false
			}
		}
		p.Flags = append(p.Flags, f.Name)
		p.Args = append(p.Args, f.Args...)
	}
	p.Name = ProfileName(p.Flags)
	return p, true
}

// ProfileName is the name of a profile of these flags.
func ProfileName(flags []FlagName) string {
	if len(flags) == 0 {
		return "default"
	}
	s := make([]string, len(flags))
	for i, f := range flags {
		s[i] = string(f)
	}
	return strings.Join(s, "+")
}

// combinations calls fn with every size-element subset of 0..n-1, in
// lexicographic order.
func combinations(n, size int, fn func([]int)) {
	pick := make([]int, size)
	var rec func(start, k int)
	rec = func(start, k int) {
		if k == size {
			fn(pick)
			return
		}
		for i := start; i <= n-(size-k); i++ {
			pick[k] = i
			rec(i+1, k+1)
		}
	}
	rec(0, 0)
}

func validateDecl(flags []Flag) error {
	seen := map[FlagName]bool{}
	var errs []error
	for _, f := range flags {
		if f.Name == "" {
			errs = append(errs, errors.New("scheduler flag with an empty name"))
		}
		if seen[f.Name] {
			errs = append(errs, fmt.Errorf("scheduler flag %q declared twice", f.Name))
		}
		seen[f.Name] = true
	}
	for _, f := range flags {
		for _, r := range f.Requires {
			switch {
			case r == f.Name:
				errs = append(errs, fmt.Errorf("scheduler flag %q requires itself", f.Name))
			case !seen[r]:
				errs = append(errs, fmt.Errorf("scheduler flag %q requires unknown flag %q", f.Name, r))
			}
		}
	}
	return errors.Join(errs...)
}

// whyNone explains why no profile is valid: a required flag whose
// requirement is excluded (or simply not required).
func whyNone(flags []Flag, isReq, isExc map[FlagName]bool) string {
	var why []string
	for _, f := range flags {
		if !isReq[f.Name] {
			continue
		}
		for _, r := range f.Requires {
			if isExc[r] {
				why = append(why, fmt.Sprintf("required flag %q needs %q, which is excluded", f.Name, r))
			}
		}
	}
	if len(why) == 0 {
		return "every combination lacks a flag's requirement"
	}
	slices.Sort(why)
	return strings.Join(why, "; ")
}

func flagList(flags []Flag) string {
	if len(flags) == 0 {
		return "no flags"
	}
	n := make([]FlagName, len(flags))
	for i, f := range flags {
		n[i] = f.Name
	}
	return ProfileName(n)
}
