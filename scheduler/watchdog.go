package scheduler

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// SetWatchdog overrides the sched_ext watchdog timeout of the scheduler
// that is enabled now. The kernel keeps it in the static variable
// scx_watchdog_timeout (jiffies), set from ops.timeout_ms at enable time
// and read by the watchdog on every check; there is no other interface, so
// the guest writes it through /dev/mem (the guest kernel has DEVMEM without
// STRICT_DEVMEM for this). The physical address comes from kallsyms and the
// "Kernel code" range of /proc/iomem; CONFIG_HZ from /proc/config.gz.
func SetWatchdog(d time.Duration) error {
	w, err := openWatchdog()
	if err != nil {
		return err
	}
	defer w.close()
	return w.set(d)
}

// watchdogWriter writes scx_watchdog_timeout. Opening it does the slow part
// (reading kallsyms), so that set is a single write when it matters.
type watchdogWriter struct {
	mem  *os.File
	phys int64
	hz   int
}

func openWatchdog() (*watchdogWriter, error) {
	return openWatchdogAt("/proc/kallsyms", "/proc/iomem", "/proc/config.gz", "/dev/mem")
}

func openWatchdogAt(kallsyms, iomem, config, mem string) (*watchdogWriter, error) {
	syms, err := symbols(kallsyms, "_text", "scx_watchdog_timeout")
	if err != nil {
		return nil, fmt.Errorf("sched_ext watchdog: %w", err)
	}
	code, err := kernelCodeStart(iomem)
	if err != nil {
		return nil, fmt.Errorf("sched_ext watchdog: %w", err)
	}
	hz, err := configHZ(config)
	if err != nil {
		return nil, fmt.Errorf("sched_ext watchdog: %w", err)
	}
	f, err := os.OpenFile(mem, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("sched_ext watchdog: %w", err)
	}
	return &watchdogWriter{mem: f, phys: int64(syms["scx_watchdog_timeout"] - syms["_text"] + code), hz: hz}, nil
}

func (w *watchdogWriter) close() { w.mem.Close() }

// set writes d, in jiffies, and reads it back.
func (w *watchdogWriter) set(d time.Duration) error {
	var buf, back [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(d.Seconds()*float64(w.hz)))
	if _, err := w.mem.WriteAt(buf[:], w.phys); err != nil {
		return fmt.Errorf("set sched_ext watchdog to %s: write %s at %#x: %w", d, w.mem.Name(), w.phys, err)
	}
	if _, err := w.mem.ReadAt(back[:], w.phys); err != nil || back != buf {
		return fmt.Errorf("set sched_ext watchdog to %s: read back at %#x: got %x, want %x (%v)", d, w.phys, back, buf, err)
	}
	return nil
}

// symbols returns the addresses of the named kernel symbols.
func symbols(path string, names ...string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !want[fields[2]] {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil || addr == 0 {
			return nil, fmt.Errorf("%s: unusable address for %s (kptr_restrict?)", path, fields[2])
		}
		out[fields[2]] = addr
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("%s: no symbol %s (kernel without sched_ext or KALLSYMS_ALL?)", path, n)
		}
	}
	return out, sc.Err()
}

// kernelCodeStart returns the physical start of the "Kernel code" range.
func kernelCodeStart(path string) (uint64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		rng, name, ok := strings.Cut(strings.TrimSpace(line), " : ")
		if !ok || name != "Kernel code" {
			continue
		}
		start, _, _ := strings.Cut(rng, "-")
		v, err := strconv.ParseUint(start, 16, 64)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("%s: unusable Kernel code range %q", path, rng)
		}
		return v, nil
	}
	return 0, fmt.Errorf("%s: no Kernel code range", path)
}

// configHZ reads CONFIG_HZ from the kernel's embedded config.
func configHZ(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	sc := bufio.NewScanner(z)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_HZ="); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("%s: no CONFIG_HZ", path)
}
