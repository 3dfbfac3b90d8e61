package initramfs

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestList(t *testing.T) {
	b := New()
	b.AddBytes("/a/b", []byte("bb"), 0o600)
	b.AddSymlink("/c", "a/b")
	arch := archive(t, b)
	want := []Entry{dirEntry("a", 0o755), fileEntry("a/b", 0o600, 2), linkEntry("c", "a/b")}

	tests := []struct {
		name    string
		data    []byte
		oneByte bool
		want    []Entry
		err     string
	}{
		{name: "archive", data: arch, want: want},
		{name: "one byte at a time", data: arch, oneByte: true, want: want},
		{name: "empty", data: nil, err: "without a trailer"},
		{name: "no trailer", data: arch[:bytes.Index(arch, []byte("TRAILER!!!"))-110], err: "ends after 3 records without a trailer"},
		{name: "truncated header", data: arch[:50], err: "record 1"},
		{name: "not cpio", data: []byte(strings.Repeat("x", 200)), err: "magic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := bytes.NewReader(tt.data)
			got, err := List(r)
			if tt.oneByte {
				got, err = List(iotest.OneByteReader(bytes.NewReader(tt.data)))
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("List error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("List mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
