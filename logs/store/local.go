package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/brisk-containers/brisk/internal/atomicfile"
)

// Local writes objects as files under Dir with a .meta.json sidecar:
// the default on a node with no bucket configured.
type Local struct{ Dir string }

func (l *Local) String() string { return l.Dir }

// Put writes the file and its sidecar atomically.
func (l *Local) Put(_ context.Context, key string, body io.Reader, meta map[string]string, contentEncoding string) error {
	return localError(l.put(key, body, meta, contentEncoding))
}

func (l *Local) put(key string, body io.Reader, meta map[string]string, contentEncoding string) error {
	path := filepath.Join(l.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	if contentEncoding != "" {
		meta = copyMap(meta)
		meta["content-encoding"] = contentEncoding
	}
	side, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(path+".meta.json", bytes.NewReader(side)); err != nil {
		return err
	}
	return writeAtomic(path, body)
}

// localPermanentErrnos fail a write under local_dir every time: a name too
// long, or a path component that is a file where a directory is needed (ID
// "job.log/x" after "job"). Anything else (disk full, I/O) may pass. They
// are the file system's answers: from an S3 client the same errno says
// something else (EINVAL from connect(2) for a link-local endpoint without
// a zone, which a fixed configuration cures).
var localPermanentErrnos = []syscall.Errno{syscall.ENAMETOOLONG, syscall.EEXIST, syscall.ENOTDIR, syscall.EISDIR, syscall.EINVAL}

// localError marks the local store's failures no retry can cure.
func localError(err error) error {
	for _, errno := range localPermanentErrnos {
		if errors.Is(err, errno) {
			return Permanent(err)
		}
	}
	return err
}

// Get reads a file and its sidecar.
func (l *Local) Get(_ context.Context, key string) ([]byte, map[string]string, error) {
	path := filepath.Join(l.Dir, filepath.FromSlash(key))
	body, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]string{}
	if side, err := os.ReadFile(path + ".meta.json"); err == nil {
		_ = json.Unmarshal(side, &meta)
	}
	if meta["content-encoding"] == "gzip" {
		if body, err = gunzip(body); err != nil {
			return nil, nil, err
		}
	}
	return body, meta, nil
}

// List lists the files under Dir as S3 would list their keys: by
// slash-separated path, ascending, in one page.
func (l *Local) List(_ context.Context, prefix, startAfter string, page func(keys []string, more bool) bool) error {
	// Walk only the deepest directory the prefix names.
	start := l.Dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(l.Dir, filepath.FromSlash(prefix[:i]))
	}
	var keys []string
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(path, ".meta.json") || strings.HasSuffix(path, ".tmp") {
			return nil
		}
		rel, err := filepath.Rel(l.Dir, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) && key > startAfter {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(keys)
	page(keys, false)
	return nil
}

func writeAtomic(path string, data io.Reader) error {
	return atomicfile.WriteFrom(path, data, 0o640, atomicfile.WithSync())
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
