package main

import (
	"bytes"
	"testing"

	"github.com/ktstr-go/ktstr/internal/proto"
)

// The console as the user sees it: from the start marker to the end
// marker, however the bytes are split (a serial port writes them one by
// one), with CR LF as LF for a file.
func TestShellOutput(t *testing.T) {
	in := "boot noise\r\n" + proto.ShellMarker + "0-3\r\nok\r\n" + proto.ShellEndMarker + "reboot: Power down\r\n"
	for _, chunk := range []int{1, 3, 7, len(in)} {
		for _, crlf := range []bool{true, false} {
			var b bytes.Buffer
			s := &shellOutput{w: &b, crlf: crlf}
			for i := 0; i < len(in); i += chunk {
				s.Write([]byte(in[i:min(i+chunk, len(in))]))
			}
			want := "0-3\r\nok\r\n"
			if crlf {
				want = "0-3\nok\n"
			}
			if b.String() != want {
				t.Errorf("chunks of %d, crlf %v: %q, want %q", chunk, crlf, b.String(), want)
			}
		}
	}
}
