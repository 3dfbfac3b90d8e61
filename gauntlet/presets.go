package gauntlet

import (
	"fmt"

	"github.com/ktstr-go/ktstr/topology"
)

// Preset is a named topology of the gauntlet.
type Preset struct {
	Name     string
	Topology topology.Topology
}

// presetShapes are the presets in order, in the compact topology form.
var presetShapes = []struct{ name, shape string }{
	{"tiny-1llc", "1n1l4c1t"},
	{"tiny-2llc", "1n2l2c1t"},
	{"odd-3llc", "1n3l3c1t"},
	{"odd-5llc", "1n5l3c1t"},
	{"odd-7llc", "1n7l2c1t"},
	{"smt-2llc", "1n2l2c2t"},
	{"smt-3llc", "1n3l2c2t"},
	{"medium-4llc", "1n4l4c2t"},
	{"medium-8llc", "1n8l4c2t"},
	{"large-4llc", "1n4l16c2t"},
	{"large-8llc", "1n8l8c2t"},
	{"near-max-llc", "1n15l8c2t"},
	{"max-cpu", "1n14l9c2t"},
	{"medium-4llc-nosmt", "1n4l8c1t"},
	{"medium-8llc-nosmt", "1n8l8c1t"},
	{"large-4llc-nosmt", "1n4l32c1t"},
	{"large-8llc-nosmt", "1n8l16c1t"},
	{"near-max-llc-nosmt", "1n15l16c1t"},
	{"max-cpu-nosmt", "1n14l18c1t"},
	{"numa2-4llc", "2n4l4c1t"},
	{"numa2-8llc", "2n8l8c2t"},
	{"numa2-8llc-nosmt", "2n8l16c1t"},
	{"numa4-8llc", "4n8l4c1t"},
	{"numa4-12llc", "4n12l8c2t"},
}

var presets = func() []Preset {
	out := make([]Preset, len(presetShapes))
	for i, p := range presetShapes {
		t, err := topology.Parse(p.shape)
		if err != nil {
			panic(fmt.Sprintf("gauntlet preset %s: %v", p.name, err))
		}
		out[i] = Preset{Name: p.name, Topology: t}
	}
	return out
}()

// Presets returns the gauntlet's presets in their fixed order (a new slice
// each call): tiny-1llc 1n1l4c1t, tiny-2llc 1n2l2c1t, odd-3llc 1n3l3c1t,
// odd-5llc 1n5l3c1t, odd-7llc 1n7l2c1t, smt-2llc 1n2l2c2t, smt-3llc
// 1n3l2c2t, medium-4llc 1n4l4c2t, medium-8llc 1n8l4c2t, large-4llc
// 1n4l16c2t, large-8llc 1n8l8c2t, near-max-llc 1n15l8c2t, max-cpu
// 1n14l9c2t, medium-4llc-nosmt 1n4l8c1t, medium-8llc-nosmt 1n8l8c1t,
// large-4llc-nosmt 1n4l32c1t, large-8llc-nosmt 1n8l16c1t,
// near-max-llc-nosmt 1n15l16c1t, max-cpu-nosmt 1n14l18c1t, numa2-4llc
// 2n4l4c1t, numa2-8llc 2n8l8c2t, numa2-8llc-nosmt 2n8l16c1t, numa4-8llc
// 4n8l4c1t, numa4-12llc 4n12l8c2t.
func Presets() []Preset {
	return append([]Preset(nil), presets...)
}

// PresetByName returns the preset called name.
func PresetByName(name string) (Preset, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}
