package kernel

import "testing"

func TestComputeKey(t *testing.T) {
	base := func() (string, []byte, string, string) {
		return "recipe-1", []byte("CONFIG_A=y\n"), "tarball size=1 sha256=ab", "gcc (Debian 12.2.0-14) 12.2.0"
	}
	r, f, s, c := base()
	k := computeKey(r, f, s, c)
	if len(k) != 16 {
		t.Fatalf("key %q: want 16 hex digits", k)
	}
	if again := computeKey(r, []byte("CONFIG_A=y\n"), s, c); again != k {
		t.Errorf("same inputs gave %s then %s", k, again)
	}
	// Golden: the hash construction must not change by accident (that would
	// silently orphan every cached kernel); bump recipeVersion instead.
	if want := "fbdee2f29b1c153c"; k != want {
		t.Errorf("computeKey = %s, want %s", k, want)
	}
	tests := []struct {
		name                     string
		recipe, source, compiler string
		frag                     []byte
	}{
		{name: "fragment", recipe: r, frag: []byte("CONFIG_A=n\n"), source: s, compiler: c},
		{name: "fragment whitespace", recipe: r, frag: []byte("CONFIG_A=y\n\n"), source: s, compiler: c},
		{name: "recipe", recipe: "recipe-2", frag: f, source: s, compiler: c},
		{name: "source", recipe: r, frag: f, source: "tarball size=1 sha256=cd", compiler: c},
		{name: "compiler", recipe: r, frag: f, source: s, compiler: "gcc 13"},
		{name: "boundary shift", recipe: r, frag: []byte("CONFIG_A=y\ntarball"), source: " size=1 sha256=ab", compiler: c},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := computeKey(tt.recipe, tt.frag, tt.source, tt.compiler); got == k {
				t.Errorf("changing the %s kept key %s", tt.name, k)
			}
		})
	}
}
