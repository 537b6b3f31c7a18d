// Command briskimage writes Brisk's node image (binaries plus
// brisk-installer) as an OCI archive, for `make image`:
//
//	briskimage -bin bin -out bin/brisk-image.tar [-name REF]
//
// Load it with `ctr -n k8s.io images import bin/brisk-image.tar`, or push it
// with any OCI tool (skopeo copy oci-archive:bin/brisk-image.tar docker://REF).
// Timestamps come from SOURCE_DATE_EPOCH when set, so builds are
// reproducible.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/brisk-containers/brisk/internal/briskimage"
)

func main() {
	bin := flag.String("bin", "bin", "directory of the static binaries (make build)")
	out := flag.String("out", "bin/brisk-image.tar", "archive to write")
	name := flag.String("name", briskimage.DefaultName, "image reference")
	flag.Parse()
	created := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fail(fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err))
		}
		created = time.Unix(sec, 0).UTC()
	}
	f, err := os.Create(*out + ".tmp")
	if err != nil {
		fail(err)
	}
	if err := briskimage.Write(f, *bin, *name, created); err != nil {
		f.Close()
		os.Remove(f.Name())
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
	if err := os.Rename(f.Name(), *out); err != nil {
		fail(err)
	}
	fmt.Println(*out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "briskimage:", err)
	os.Exit(1)
}
