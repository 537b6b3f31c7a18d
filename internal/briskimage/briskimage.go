// Package briskimage composes Brisk's node image: the binaries and the
// installer under /opt/brisk/bin, the installer as entrypoint. `make image`
// and the installer's end-to-end test build it the same way.
package briskimage

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/brisk-containers/brisk/internal/installer"
	"github.com/brisk-containers/brisk/internal/ociarchive"
)

// DefaultName is the reference the archive is tagged with and the
// DaemonSet in contrib/kubernetes pulls.
const DefaultName = "ghcr.io/brisk-containers/brisk:latest"

// BinDir is where the image holds the binaries.
const BinDir = "/opt/brisk/bin"

// Installer is the image's entrypoint.
const Installer = "brisk-installer"

// Write writes the image built from the static binaries in binDir to w.
func Write(w io.Writer, binDir, name string, created time.Time) error {
	var files []ociarchive.File
	for _, b := range append([]string{Installer}, installer.Binaries...) {
		data, err := os.ReadFile(filepath.Join(binDir, b))
		if err != nil {
			return fmt.Errorf("image binary (make build): %w", err)
		}
		files = append(files, ociarchive.File{Path: BinDir + "/" + b, Mode: 0o755, Data: data})
	}
	return ociarchive.Write(w, ociarchive.Image{
		Name:     name,
		Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config: ocispec.ImageConfig{
			Entrypoint: []string{BinDir + "/" + Installer},
			Cmd:        []string{"install", "--wait", "--host-root=/host"},
			Env:        []string{"PATH=" + BinDir},
		},
		Files:   files,
		Created: created,
	})
}
