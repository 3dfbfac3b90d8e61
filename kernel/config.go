package kernel

import (
	"bufio"
	_ "embed"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

//go:embed ktstr.config
var fragment []byte

// Fragment returns a copy of the kconfig fragment that [Build] merges on top
// of defconfig and kvm_guest.config.
func Fragment() []byte {
	return append([]byte(nil), fragment...)
}

// notSet is the value [Mismatch] uses for an option that is explicitly
// disabled ("# CONFIG_X is not set").
const notSet = "n"

// Mismatch is one fragment option that did not survive into a final .config.
type Mismatch struct {
	// Option is the option's name, with its CONFIG_ prefix.
	Option string
	// Want is the fragment's value: "y", "m", a number or a quoted string,
	// or "n" for "# CONFIG_X is not set".
	Want string
	// Got is the final value, "n" when it is "is not set", and "" when the
	// option is absent from the final config.
	Got string
}

// String formats m as "CONFIG_X: want y, got n".
func (m Mismatch) String() string {
	got := m.Got
	if got == "" {
		got = "absent"
	}
	return fmt.Sprintf("%s: want %s, got %s", m.Option, m.Want, got)
}

// ConfigError reports fragment options that did not survive into a final
// .config. [Build] returns it (wrapped) when that happens.
type ConfigError struct {
	// Stage is when the check ran, e.g. "after olddefconfig".
	Stage string
	// Config is the path of the checked .config.
	Config string
	// Mismatches lists every option that did not survive.
	Mismatches []Mismatch
}

// Error lists every mismatch, one a line.
func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config check %s: %d option(s) of the ktstr fragment did not survive into %s"+
		" (usually an unmet Kconfig dependency):", e.Stage, len(e.Mismatches), e.Config)
	for _, m := range e.Mismatches {
		b.WriteString("\n  ")
		b.WriteString(m.String())
	}
	return b.String()
}

var (
	setRe    = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	notSetRe = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// parseConfig reads kconfig lines into name -> value ("n" for "is not set")
// and the names in first-seen order. Other comments and blank lines are
// skipped. With strict, any other line is an error.
func parseConfig(r io.Reader, strict bool) (map[string]string, []string, error) {
	vals := map[string]string{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		var name, val string
		if m := setRe.FindStringSubmatch(line); m != nil {
			name, val = m[1], m[2]
		} else if m := notSetRe.FindStringSubmatch(line); m != nil {
			name, val = m[1], notSet
		} else if line == "" || strings.HasPrefix(line, "#") {
			continue
		} else if strict {
			return nil, nil, fmt.Errorf("line %d: not a kconfig line: %q", n, line)
		} else {
			continue
		}
		if _, seen := vals[name]; !seen {
			order = append(order, name)
		}
		vals[name] = val
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return vals, order, nil
}

// CheckConfig compares a kconfig fragment with a final .config and returns
// the fragment options that did not survive, in fragment order. An option
// set in the fragment ("CONFIG_X=value") must have exactly that value in the
// final config; an option the fragment disables ("# CONFIG_X is not set")
// must be absent or disabled. When the fragment sets an option twice, the
// last value counts, as with merge_config.sh. A fragment line that is neither
// of those forms, a comment nor blank is an error.
func CheckConfig(fragment, final io.Reader) ([]Mismatch, error) {
	want, order, err := parseConfig(fragment, true)
	if err != nil {
		return nil, fmt.Errorf("fragment: %w", err)
	}
	got, _, err := parseConfig(final, false)
	if err != nil {
		return nil, fmt.Errorf("final config: %w", err)
	}
	var out []Mismatch
	for _, name := range order {
		w, g := want[name], got[name]
		if w == g || (w == notSet && g == "") {
			continue
		}
		out = append(out, Mismatch{Option: name, Want: w, Got: g})
	}
	return out, nil
}

// ConfigValue returns the value of option (with its CONFIG_ prefix, e.g.
// "CONFIG_HZ") in the kernel's final .config: "y", a number or a quoted
// string, "n" for "is not set"; ok is false when the image has no config
// or the config does not mention the option.
func (img Image) ConfigValue(option string) (value string, ok bool, err error) {
	if img.Config == "" {
		return "", false, nil
	}
	f, err := os.Open(img.Config)
	if err != nil {
		return "", false, fmt.Errorf("kernel config: %w", err)
	}
	defer f.Close()
	vals, _, err := parseConfig(f, false)
	if err != nil {
		return "", false, fmt.Errorf("kernel config %s: %w", img.Config, err)
	}
	v, ok := vals[option]
	return v, ok, nil
}
