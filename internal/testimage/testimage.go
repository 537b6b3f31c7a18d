// Package testimage builds the busybox OCI image the tests, the demo and the
// benchmarks import: no registry is reachable from the machines Brisk is
// tested on. It is not test code (hack/mkimage uses it) and imports no
// testing package.
package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Name is the name the busybox test image is imported under. It is
// fully qualified because CRI normalises image names.
const Name = "docker.io/local/busybox:latest"

// applets get a symlink to busybox in /bin.
var applets = []string{
	"sh", "ash", "echo", "cat", "dd", "sleep", "touch", "mkdir", "seq", "head", "tail", "yes", "ls", "rm",
	"printf", "wc", "true", "false", "df", "stat", "mount", "grep", "sync", "kill", "env", "test", "[",
	"sed", "awk", "cp", "mv", "id", "date", "tr", "od", "base64", "sha256sum", "md5sum", "xargs", "find",
}

// File is an extra file put into the image's single layer.
type File struct {
	Path string // inside the image, absolute
	Mode int64
	Data []byte
}

// Build writes an OCI image-layout tarball holding a static busybox and
// extra files, importable with `ctr images import`, and returns its path.
// No registry is reachable from the machines Brisk is tested on.
func Build(dir, busybox, name string, extra ...File) (string, error) {
	return BuildCmd(dir, busybox, name, []string{"sh"}, extra...)
}

// BuildCmd is Build with the image's default command.
func BuildCmd(dir, busybox, name string, cmd []string, extra ...File) (string, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return "", fmt.Errorf("read busybox: %w", err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	mtime := time.Unix(1700000000, 0)
	add := func(h *tar.Header, data []byte) error {
		h.ModTime = mtime
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin/", 0o755}, {"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555}, {"sys/", 0o555}, {"root/", 0o700}, {"tmp/", 0o1777}, {"var/", 0o755}, {"usr/", 0o755}, {"usr/local/", 0o755}, {"usr/local/bin/", 0o755}} {
		if err := add(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode}, nil); err != nil {
			return "", err
		}
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))}, bb); err != nil {
		return "", err
	}
	for _, a := range applets {
		if err := add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil); err != nil {
			return "", err
		}
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
	group := []byte("root:x:0:\nnogroup:x:65534:\n")
	for _, f := range append([]File{{"/etc/passwd", 0o644, passwd}, {"/etc/group", 0o644, group}}, extra...) {
		if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path[1:], Mode: f.Mode, Size: int64(len(f.Data))}, f.Data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	diffID := digest.FromBytes(layer.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(layer.Bytes()); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}

	blobs := map[digest.Digest][]byte{}
	blob := func(data []byte) digest.Digest {
		d := digest.Digest(fmt.Sprintf("sha256:%x", sha256.Sum256(data)))
		blobs[d] = data
		return d
	}
	layerDigest := blob(gz.Bytes())
	platform := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	cfg, err := json.Marshal(ocispec.Image{
		Platform: platform,
		Config:   ocispec.ImageConfig{Cmd: cmd, Env: []string{"PATH=/usr/local/bin:/bin"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	})
	if err != nil {
		return "", err
	}
	cfgDigest := blob(cfg)
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layerDigest, Size: int64(gz.Len())}},
	})
	if err != nil {
		return "", err
	}
	manifestDigest := blob(manifest)
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType: ocispec.MediaTypeImageManifest, Digest: manifestDigest, Size: int64(len(manifest)), Platform: &platform,
			Annotations: map[string]string{"io.containerd.image.name": name, ocispec.AnnotationRefName: "latest"},
		}},
	})
	if err != nil {
		return "", err
	}

	path := filepath.Join(dir, "image.tar")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	out := tar.NewWriter(f)
	files := []struct {
		name string
		data []byte
	}{{ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"1.0.0"}`)}, {"index.json", index}}
	for d, data := range blobs {
		files = append(files, struct {
			name string
			data []byte
		}{"blobs/sha256/" + d.Encoded(), data})
	}
	for _, file := range files {
		if err := out.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: file.name, Mode: 0o644, Size: int64(len(file.data)), ModTime: mtime}); err != nil {
			return "", err
		}
		if _, err := out.Write(file.data); err != nil {
			return "", err
		}
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return path, f.Close()
}
