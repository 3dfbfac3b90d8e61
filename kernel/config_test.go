package kernel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name     string
		fragment string
		final    string
		want     []Mismatch
		wantErr  string
	}{
		{name: "all survived", fragment: "fragment.config", final: "final_ok.config"},
		{name: "disabled options absent", fragment: "fragment.config", final: "final_missing.config",
			want: []Mismatch{
				{Option: "CONFIG_SCHED_CLASS_EXT", Want: "y", Got: ""},
				{Option: "CONFIG_CMDLINE", Want: `"console=ttyS0"`, Got: ""},
			}},
		{name: "everything changed", fragment: "fragment.config", final: "final_bad.config",
			want: []Mismatch{
				{Option: "CONFIG_SCHED_CLASS_EXT", Want: "y", Got: "n"},
				{Option: "CONFIG_NR_CPUS", Want: "512", Got: "64"},
				{Option: "CONFIG_CMDLINE", Want: `"console=ttyS0"`, Got: `"console=ttyS1"`},
				{Option: "CONFIG_JUMP_LABEL", Want: "n", Got: "y"},
				{Option: "CONFIG_MODULES", Want: "n", Got: "y"},
				{Option: "CONFIG_HZ", Want: "1000", Got: "100"},
			}},
		{name: "malformed fragment", fragment: "fragment_bad.config", final: "final_ok.config",
			wantErr: "line 2: not a kconfig line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frag := openTestdata(t, tt.fragment)
			final := openTestdata(t, tt.final)
			got, err := CheckConfig(frag, final)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CheckConfig error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("CheckConfig mismatches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEmbeddedFragmentParses(t *testing.T) {
	// The fragment checked against itself: strict parsing and no mismatch.
	mm, err := CheckConfig(bytes.NewReader(Fragment()), bytes.NewReader(Fragment()))
	if err != nil {
		t.Fatal(err)
	}
	if len(mm) != 0 {
		t.Errorf("fragment against itself: %v", mm)
	}
	for _, opt := range []string{"CONFIG_SCHED_CLASS_EXT=y", "CONFIG_DEBUG_INFO_BTF=y", "# CONFIG_JUMP_LABEL is not set"} {
		if !bytes.Contains(Fragment(), []byte(opt+"\n")) {
			t.Errorf("fragment lacks %q", opt)
		}
	}
}

func TestConfigErrorListsEveryOption(t *testing.T) {
	e := &ConfigError{Stage: "after olddefconfig", Config: "/b/.config", Mismatches: []Mismatch{
		{Option: "CONFIG_A", Want: "y", Got: ""},
		{Option: "CONFIG_B", Want: "n", Got: "y"},
	}}
	want := "config check after olddefconfig: 2 option(s) of the ktstr fragment did not survive into /b/.config" +
		" (usually an unmet Kconfig dependency):\n  CONFIG_A: want y, got absent\n  CONFIG_B: want n, got y"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

func openTestdata(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestConfigValue(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte("CONFIG_HZ=1000\n# CONFIG_X is not set\nCONFIG_S=\"a b\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := Image{Config: p}
	for opt, want := range map[string]string{"CONFIG_HZ": "1000", "CONFIG_X": "n", "CONFIG_S": `"a b"`} {
		if v, ok, err := img.ConfigValue(opt); err != nil || !ok || v != want {
			t.Errorf("%s = %q, %v, %v; want %q", opt, v, ok, err, want)
		}
	}
	if _, ok, err := img.ConfigValue("CONFIG_NONE"); ok || err != nil {
		t.Errorf("absent option: %v, %v", ok, err)
	}
	if _, ok, err := (Image{}).ConfigValue("CONFIG_HZ"); ok || err != nil {
		t.Errorf("no config: %v, %v", ok, err)
	}
}
