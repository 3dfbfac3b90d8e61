package kernel

import "testing"

func TestComputeKey(t *testing.T) {
	p1, err := newPatch("0001-a.patch", []byte("--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-x\n+y\n"))
	if err != nil {
		t.Fatal(err)
	}
	p2, err := newPatch("0002-b.patch", []byte("--- a/g.c\n+++ b/g.c\n@@ -1 +1 @@\n-x\n+y\n"))
	if err != nil {
		t.Fatal(err)
	}
	base := func() (string, []byte, []kpatch, string, string) {
		return "recipe-1", []byte("CONFIG_A=y\n"), []kpatch{p1}, "tarball size=1 sha256=ab", "gcc (Debian 12.2.0-14) 12.2.0"
	}
	r, f, ps, s, c := base()
	k := computeKey(r, f, ps, s, c)
	if len(k) != 16 {
		t.Fatalf("key %q: want 16 hex digits", k)
	}
	if again := computeKey(r, []byte("CONFIG_A=y\n"), []kpatch{p1}, s, c); again != k {
		t.Errorf("same inputs gave %s then %s", k, again)
	}
	// Golden: the hash construction must not change by accident (that would
	// silently orphan every cached kernel); bump recipeVersion instead.
	if want := "cf432d9ec314fe31"; k != want {
		t.Errorf("computeKey = %s, want %s", k, want)
	}
	renamed := p1
	renamed.name = "0001-renamed.patch"
	edited, _ := newPatch(p1.name, []byte("--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-x\n+z\n"))
	tests := []struct {
		name                     string
		recipe, source, compiler string
		frag                     []byte
		patches                  []kpatch
	}{
		{name: "fragment", recipe: r, frag: []byte("CONFIG_A=n\n"), patches: ps, source: s, compiler: c},
		{name: "fragment whitespace", recipe: r, frag: []byte("CONFIG_A=y\n\n"), patches: ps, source: s, compiler: c},
		{name: "recipe", recipe: "recipe-2", frag: f, patches: ps, source: s, compiler: c},
		{name: "no patches", recipe: r, frag: f, source: s, compiler: c},
		{name: "another patch", recipe: r, frag: f, patches: []kpatch{p1, p2}, source: s, compiler: c},
		{name: "patch order", recipe: r, frag: f, patches: []kpatch{p2, p1}, source: s, compiler: c},
		{name: "patch content", recipe: r, frag: f, patches: []kpatch{edited}, source: s, compiler: c},
		{name: "patch name", recipe: r, frag: f, patches: []kpatch{renamed}, source: s, compiler: c},
		{name: "source", recipe: r, frag: f, patches: ps, source: "tarball size=1 sha256=cd", compiler: c},
		{name: "compiler", recipe: r, frag: f, patches: ps, source: s, compiler: "gcc 13"},
		{name: "boundary shift", recipe: r, frag: []byte("CONFIG_A=y\ntarball"), patches: ps, source: " size=1 sha256=ab", compiler: c},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := computeKey(tt.recipe, tt.frag, tt.patches, tt.source, tt.compiler); got == k {
				t.Errorf("changing the %s kept key %s", tt.name, k)
			}
		})
	}
}

func TestRecipeVersion(t *testing.T) {
	if recipeVersion != "ktstr-kernel-recipe-2" {
		t.Errorf("recipeVersion = %s", recipeVersion)
	}
	if n, ok := recipeNumber(recipeVersion); !ok || n != 2 {
		t.Errorf("recipeNumber(%s) = %d, %v", recipeVersion, n, ok)
	}
}
