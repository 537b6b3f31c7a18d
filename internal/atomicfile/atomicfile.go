// Package atomicfile replaces a file's content all at once: a reader (or a
// daemon restarted after a crash) sees the old content or the new, never a
// torn mix.
package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Opt configures Write.
type Opt func(*options)

type options struct {
	sync  bool
	setup func(*os.File) error
}

// WithSync makes the new content durable before it replaces the old: the
// temporary file is fsynced before the rename. Without it a power cut may
// leave an empty file; with it every write costs a device flush, which is why
// it is not the default for files a crash may lose.
func WithSync() Opt { return func(o *options) { o.sync = true } }

// WithSetup runs fn on the temporary file once its content is written and
// before it is synced and renamed into place: to give it what the file it
// replaces had (owner, mode bits, xattrs), which a rename would otherwise
// lose.
func WithSetup(fn func(f *os.File) error) Opt { return func(o *options) { o.setup = fn } }

// Write writes data to path with mode perm through a temporary file in the
// same directory and a rename. On failure path is untouched and the
// temporary file is gone.
func Write(path string, data []byte, perm os.FileMode, opts ...Opt) error {
	return WriteFrom(path, bytes.NewReader(data), perm, opts...)
}

// WriteFrom is Write with the content streamed from r, so a large object
// (a log on its way to local_dir) is never held in memory.
func WriteFrom(path string, r io.Reader, perm os.FileMode, opts ...Opt) (retErr error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// Hidden and ending in .tmp: directory listings (the local log store's)
	// skip it.
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if retErr != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := writeClose(f, r, perm, o); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeClose(f *os.File, r io.Reader, perm os.FileMode, o options) error {
	err := f.Chmod(perm)
	if err == nil {
		_, err = io.Copy(f, r)
	}
	if err == nil && o.setup != nil {
		err = o.setup(f)
	}
	if err == nil && o.sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
