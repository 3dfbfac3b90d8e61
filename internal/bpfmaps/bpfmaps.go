// Package bpfmaps walks the BPF maps loaded in the (guest) kernel: the one
// place ktstr lists them, for BpfMapWrite's map by name and for auto-repro's
// scheduler struct_ops map.
package bpfmaps

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
)

// Each calls fn with the id and info of every loaded map whose id is above
// after, in id order, until fn returns false. Maps that go away or cannot
// be opened meanwhile are skipped.
func Each(after ebpf.MapID, fn func(id ebpf.MapID, info *ebpf.MapInfo) bool) error {
	for id := after; ; {
		next, err := ebpf.MapGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list BPF maps: %w", err)
		}
		id = next
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			continue
		}
		if !fn(id, info) {
			return nil
		}
	}
}

// Last returns the highest map id loaded now (0 for none).
func Last() ebpf.MapID {
	var last ebpf.MapID
	_ = Each(0, func(id ebpf.MapID, _ *ebpf.MapInfo) bool { last = id; return true })
	return last
}
