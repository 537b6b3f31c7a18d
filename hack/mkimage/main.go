// Command mkimage writes the busybox OCI image tarball the demo and the
// benchmarks import (no registry is needed), optionally with extra files.
//
//	mkimage -busybox /bin/busybox -out DIR [-add /usr/local/bin/x=./x]...
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/brisk-containers/brisk/internal/testimage"
)

type adds []string

func (a *adds) String() string     { return strings.Join(*a, ",") }
func (a *adds) Set(v string) error { *a = append(*a, v); return nil }

func main() {
	var extra adds
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary")
	out := flag.String("out", ".", "directory to write image.tar in")
	name := flag.String("name", testimage.Name, "image name")
	flag.Var(&extra, "add", "IMAGEPATH=HOSTFILE to add (executable), repeatable")
	flag.Parse()
	var files []testimage.File
	for _, a := range extra {
		dst, src, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(dst, "/") {
			fmt.Fprintf(os.Stderr, "mkimage: -add %q: want /path/in/image=hostfile\n", a)
			os.Exit(2)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mkimage:", err)
			os.Exit(1)
		}
		files = append(files, testimage.File{Path: dst, Mode: 0o755, Data: data})
	}
	path, err := testimage.Build(*out, *busybox, *name, files...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
