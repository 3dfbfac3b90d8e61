package proto

import (
	"strings"
	"testing"
)

func TestWinsize(t *testing.T) {
	w := Winsize{Rows: 30, Cols: 100}
	if got, ok := ParseWinsize(strings.TrimSuffix(w.String(), "\n")); !ok || got != w {
		t.Errorf("ParseWinsize(%q) = %v, %v", w.String(), got, ok)
	}
	for _, bad := range []string{"", "winsize", "winsize 30", "winsize 0 80", "winsize 30 -1", "winsize 40000 80", "winsize 30 80 extra", "size 30 80", "winsize 3x 80"} {
		if got, ok := ParseWinsize(bad); ok {
			t.Errorf("ParseWinsize(%q) = %v, want rejected", bad, got)
		}
	}
}
