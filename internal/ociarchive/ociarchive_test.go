package ociarchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestWrite(t *testing.T) {
	img := Image{
		Name:     "example.com/brisk:dev",
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config:   ocispec.ImageConfig{Entrypoint: []string{"/opt/x/bin/a"}},
		Files:    []File{{Path: "/opt/x/bin/b", Mode: 0o755, Data: []byte("b")}, {Path: "/opt/x/bin/a", Mode: 0o755, Data: []byte("a")}},
		Created:  time.Unix(1, 0).UTC(),
	}
	var first, second bytes.Buffer
	if err := Write(&first, img); err != nil {
		t.Fatal(err)
	}
	if err := Write(&second, img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("two archives of the same image differ")
	}

	files := map[string][]byte{}
	tr := tar.NewReader(&first)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	blob := func(d digest.Digest) []byte {
		data, ok := files["blobs/sha256/"+d.Encoded()]
		if !ok || digest.FromBytes(data) != d {
			t.Fatalf("blob %s missing or corrupt", d)
		}
		return data
	}
	var index ocispec.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	desc := index.Manifests[0]
	if desc.Annotations["io.containerd.image.name"] != img.Name || desc.Annotations[ocispec.AnnotationRefName] != "dev" {
		t.Errorf("index annotations %v", desc.Annotations)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(blob(desc.Digest), &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(blob(m.Config.Digest), &cfg); err != nil || cfg.Config.Entrypoint[0] != "/opt/x/bin/a" {
		t.Fatalf("config: %v %+v", err, cfg.Config)
	}
	if len(files[ocispec.ImageLayoutFile]) == 0 {
		t.Errorf("no %s", ocispec.ImageLayoutFile)
	}
	if err := Write(io.Discard, Image{Files: []File{{Path: "opt/../x"}}}); err == nil {
		t.Errorf("relative path accepted")
	}
}
