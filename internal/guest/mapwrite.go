package guest

import (
	"fmt"
	"sort"

	"github.com/cilium/ebpf"

	"github.com/ktstr-go/ktstr/internal/bpfmaps"
	"github.com/ktstr-go/ktstr/internal/proto"
)

// writeMap writes w.Value at w.Key of the BPF map named w.Map, picking the
// most recently created map of that name (the running scheduler's). Key
// and value must have the map's sizes.
func writeMap(w *proto.BpfMapWrite) error {
	m, err := findMap(w.Map)
	if err != nil {
		return fmt.Errorf("BpfMapWrite: %w", err)
	}
	defer m.Close()
	if int(m.KeySize()) != len(w.Key) || int(m.ValueSize()) != len(w.Value) {
		return fmt.Errorf("BpfMapWrite: map %q has %d-byte keys and %d-byte values, the test gives %d and %d bytes",
			w.Map, m.KeySize(), m.ValueSize(), len(w.Key), len(w.Value))
	}
	if err := m.Update(w.Key, w.Value, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("BpfMapWrite: update map %q: %w", w.Map, err)
	}
	return nil
}

func findMap(name string) (*ebpf.Map, error) {
	var ids []ebpf.MapID
	var seen []string
	err := bpfmaps.Each(0, func(id ebpf.MapID, info *ebpf.MapInfo) bool {
		seen = append(seen, info.Name)
		if info.Name == name {
			ids = append(ids, id)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("no BPF map named %q; loaded maps: %v", name, seen)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] > ids[j] })
	return ebpf.NewMapFromID(ids[0])
}
