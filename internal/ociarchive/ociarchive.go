// Package ociarchive writes a single-layer OCI image as an image-layout tar
// archive, the format `ctr images import`, skopeo (oci-archive:) and
// registries' push tools read. It is what `make image` builds Brisk's node
// image with: no Docker, no registry, the same bytes for the same inputs.
package ociarchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// File is a regular file of the layer; its parent directories are added
// (mode 0755).
type File struct {
	Path string // absolute, inside the image
	Mode int64
	Data []byte
}

// Image is what the archive holds.
type Image struct {
	// Name is the reference ctr images import tags it with
	// (io.containerd.image.name), e.g. ghcr.io/brisk-containers/brisk:dev.
	Name     string
	Platform ocispec.Platform
	Config   ocispec.ImageConfig
	Files    []File
	// Created is every timestamp in the image, for reproducible archives.
	Created time.Time
}

// Write writes img to w as an OCI image-layout tar.
func Write(w io.Writer, img Image) error {
	layer, diffID, err := img.layer()
	if err != nil {
		return err
	}
	blobs := map[digest.Digest][]byte{}
	blob := func(data []byte) ocispec.Descriptor {
		d := digest.FromBytes(data)
		blobs[d] = data
		return ocispec.Descriptor{Digest: d, Size: int64(len(data))}
	}
	layerDesc := blob(layer)
	layerDesc.MediaType = ocispec.MediaTypeImageLayerGzip
	created := img.Created
	cfg, err := json.Marshal(ocispec.Image{
		Created:  &created,
		Platform: img.Platform,
		Config:   img.Config,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
	})
	if err != nil {
		return err
	}
	cfgDesc := blob(cfg)
	cfgDesc.MediaType = ocispec.MediaTypeImageConfig
	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfgDesc,
		Layers:    []ocispec.Descriptor{layerDesc},
	})
	if err != nil {
		return err
	}
	manifestDesc := blob(manifest)
	manifestDesc.MediaType = ocispec.MediaTypeImageManifest
	manifestDesc.Platform = &img.Platform
	manifestDesc.Annotations = map[string]string{"io.containerd.image.name": img.Name}
	if _, tag, ok := strings.Cut(path.Base(img.Name), ":"); ok {
		manifestDesc.Annotations[ocispec.AnnotationRefName] = tag
	}
	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{manifestDesc},
	})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	put := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: img.Created}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := put(ocispec.ImageLayoutFile, []byte(`{"imageLayoutVersion":"`+ocispec.ImageLayoutVersion+`"}`)); err != nil {
		return err
	}
	if err := put(ocispec.ImageIndexFile, index); err != nil {
		return err
	}
	digests := make([]digest.Digest, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Slice(digests, func(i, j int) bool { return digests[i] < digests[j] })
	for _, d := range digests {
		if err := put(path.Join(ocispec.ImageBlobsDir, d.Algorithm().String(), d.Encoded()), blobs[d]); err != nil {
			return err
		}
	}
	return tw.Close()
}

// layer is the gzipped layer tar and its diff ID (digest of the tar).
func (img Image) layer() ([]byte, digest.Digest, error) {
	files := append([]File(nil), img.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return nil, "", fmt.Errorf("image file %q: want a clean absolute path", f.Path)
		}
		var parents []string
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o755, ModTime: img.Created, Format: tar.FormatPAX}); err != nil {
				return nil, "", err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path[1:], Mode: f.Mode, Size: int64(len(f.Data)), ModTime: img.Created, Format: tar.FormatPAX}); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), digest.FromBytes(raw.Bytes()), nil
}
