package initramfs_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/ktstr-go/ktstr/initramfs"
)

func ExampleBuilder() {
	b := initramfs.New()
	b.AddBytes("/init", []byte("#!/bin/sh\necho hello\n"), 0o755)
	b.AddSymlink("/lib", "usr/lib")
	b.AddBytes("/lib/modules/README", []byte("no modules\n"), 0o644)
	b.AddDir("/tmp", 0o1777)

	var buf bytes.Buffer
	if _, err := b.WriteTo(&buf); err != nil {
		log.Fatal(err)
	}
	entries, err := initramfs.List(&buf)
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range entries {
		if e.Link != "" {
			fmt.Println(e.Mode, e.Name, "->", e.Link)
		} else {
			fmt.Println(e.Mode, e.Name)
		}
	}
	// Output:
	// -rwxr-xr-x init
	// Lrwxrwxrwx lib -> usr/lib
	// dtrwxrwxrwx tmp
	// drwxr-xr-x usr
	// drwxr-xr-x usr/lib
	// drwxr-xr-x usr/lib/modules
	// -rw-r--r-- usr/lib/modules/README
}
