package gauntlet

import "testing"

func TestPresets(t *testing.T) {
	want := []struct{ name, shape string }{
		{"tiny-1llc", "1n1l4c1t"}, {"tiny-2llc", "1n2l2c1t"}, {"odd-3llc", "1n3l3c1t"},
		{"odd-5llc", "1n5l3c1t"}, {"odd-7llc", "1n7l2c1t"}, {"smt-2llc", "1n2l2c2t"},
		{"smt-3llc", "1n3l2c2t"}, {"medium-4llc", "1n4l4c2t"}, {"medium-8llc", "1n8l4c2t"},
		{"large-4llc", "1n4l16c2t"}, {"large-8llc", "1n8l8c2t"}, {"near-max-llc", "1n15l8c2t"},
		{"max-cpu", "1n14l9c2t"}, {"medium-4llc-nosmt", "1n4l8c1t"}, {"medium-8llc-nosmt", "1n8l8c1t"},
		{"large-4llc-nosmt", "1n4l32c1t"}, {"large-8llc-nosmt", "1n8l16c1t"}, {"near-max-llc-nosmt", "1n15l16c1t"},
		{"max-cpu-nosmt", "1n14l18c1t"}, {"numa2-4llc", "2n4l4c1t"}, {"numa2-8llc", "2n8l8c2t"},
		{"numa2-8llc-nosmt", "2n8l16c1t"}, {"numa4-8llc", "4n8l4c1t"}, {"numa4-12llc", "4n12l8c2t"},
	}
	got := Presets()
	if len(got) != len(want) {
		t.Fatalf("%d presets, want %d", len(got), len(want))
	}
	for i, w := range want {
		p := got[i]
		if p.Name != w.name || p.Topology.String() != w.shape {
			t.Errorf("preset %d = %s %s, want %s %s", i, p.Name, p.Topology, w.name, w.shape)
		}
		if err := p.Topology.Validate(); err != nil {
			t.Errorf("preset %s: %v", p.Name, err)
		}
		if q, ok := PresetByName(w.name); !ok || q != p {
			t.Errorf("PresetByName(%q) = %v, %v", w.name, q, ok)
		}
	}
	if _, ok := PresetByName("no-such"); ok {
		t.Error("PresetByName(no-such) found a preset")
	}
	got[0].Name = "changed"
	if Presets()[0].Name != "tiny-1llc" {
		t.Error("Presets returned the package's own slice")
	}
}
