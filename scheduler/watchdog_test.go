package scheduler

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteWatchdog(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// _text at 0xffffffff81000000 is physical 0x1000, so the variable at
	// _text+0x100 is at file offset 0x1100 of the fake /dev/mem.
	kallsyms := write("kallsyms", []byte("ffffffff81000000 T _text\nffffffff81000100 b scx_watchdog_timeout\nffffffff81000200 t other\n"))
	iomem := write("iomem", []byte("00000000-00000fff : Reserved\n00001000-00001fff : System RAM\n  00001000-00001fff : Kernel code\n"))
	var cfg bytes.Buffer
	z := gzip.NewWriter(&cfg)
	z.Write([]byte("CONFIG_X=y\nCONFIG_HZ=250\n"))
	z.Close()
	config := write("config.gz", cfg.Bytes())
	mem := write("mem", make([]byte, 0x2000))

	w, err := openWatchdogAt(kallsyms, iomem, config, mem)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	if err := w.set(4 * time.Second); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(mem)
	if got := binary.LittleEndian.Uint64(raw[0x1100:]); got != 1000 {
		t.Errorf("wrote %d jiffies, want 4 s x 250 Hz = 1000", got)
	}
	noSym := write("kallsyms2", []byte("ffffffff81000000 T _text\n"))
	if _, err := openWatchdogAt(noSym, iomem, config, mem); err == nil || !strings.Contains(err.Error(), "no symbol scx_watchdog_timeout") {
		t.Errorf("missing symbol: %v", err)
	}
	zero := write("kallsyms3", []byte("0000000000000000 T _text\n0000000000000000 b scx_watchdog_timeout\n"))
	if _, err := openWatchdogAt(zero, iomem, config, mem); err == nil || !strings.Contains(err.Error(), "kptr_restrict") {
		t.Errorf("hidden addresses: %v", err)
	}
}
