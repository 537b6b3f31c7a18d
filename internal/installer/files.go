package installer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/brisk-containers/brisk/internal/atomicfile"
)

// state is what an install created beyond the files the layout names, so
// that uninstall removes exactly that and leaves what was there before.
type state struct {
	// Dirs were created by the installer (host paths); uninstall removes
	// each once empty.
	Dirs []string `json:"dirs"`
	// ImportsLine was added to the containerd config.
	ImportsLine string `json:"imports_line,omitempty"`
	// ImportsInserted is exactly what was inserted with it: the line and
	// a newline, or a newline and the line where the config's version
	// line ended the file without one. Taking it out restores the config
	// byte for byte.
	ImportsInserted string `json:"imports_inserted,omitempty"`
	// CreatedContainerdConfig is the content of the containerd config
	// the installer created, there being none; uninstall removes the file
	// if it still holds just that.
	CreatedContainerdConfig string `json:"created_containerd_config,omitempty"`
	// PreExisting lists, for each data directory (the snapshotter's
	// root, spool_dir) that was there before the first install, the names
	// it held then: uninstall removes only what came after.
	PreExisting map[string][]string `json:"pre_existing,omitempty"`
	// Written lists the files installed from optional sources that are
	// not Brisk's own by their path (brisk-logd's tokens): uninstall
	// removes them only when the installer wrote them, and leaves an
	// operator's own file there.
	Written []string `json:"written,omitempty"`
}

// noteWritten records host path p as written by the installer.
func (st *state) noteWritten(p string) {
	if !slices.Contains(st.Written, p) {
		st.Written = append(st.Written, p)
	}
}

func loadState(l Layout) (state, error) {
	var st state
	data, err := os.ReadFile(l.host(l.statePath()))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("installer state %s: %w", l.statePath(), err)
	}
	return st, nil
}

func (st *state) save(l Layout) error {
	if err := st.mkdirAll(l, l.StateDir, 0o700); err != nil {
		return err
	}
	sort.Strings(st.Dirs)
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	_, err = writeFile(l.host(l.statePath()), append(data, '\n'), 0o600)
	return err
}

// mkdirAll creates host directory dir and its missing parents, recording
// each one created.
func (st *state) mkdirAll(l Layout, dir string, mode fs.FileMode) error {
	var missing []string
	for d := filepath.Clean(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Lstat(l.host(d)); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(l.host(missing[i]), mode); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", missing[i], err)
		}
		if !slices.Contains(st.Dirs, missing[i]) {
			st.Dirs = append(st.Dirs, missing[i])
		}
	}
	return nil
}

// removeDirs removes the recorded directories that are empty, deepest
// first; one still holding something (logs in local_dir) stays.
func (st *state) removeDirs(l Layout) {
	dirs := slices.Clone(st.Dirs)
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		_ = os.Remove(l.host(d))
	}
}

// writeFile replaces path with data and mode unless it already holds exactly
// that, and reports whether it changed. The new content is renamed into
// place, so a running binary is never written over and a reader never sees
// half a file.
func writeFile(path string, data []byte, mode fs.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == mode {
			return false, nil
		}
	}
	if err := atomicfile.Write(path, data, mode, atomicfile.WithSync()); err != nil {
		return false, err
	}
	return true, nil
}

// copyFile is writeFile for a file on disk, streamed: the binaries are tens
// of MiB and the installer's pod has a small memory limit.
func copyFile(src, dst string, mode fs.FileMode) (bool, error) {
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	if same, err := sameFile(in, dst, mode); err != nil || same {
		return false, err
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	if err := atomicfile.WriteFrom(dst, in, mode, atomicfile.WithSync()); err != nil {
		return false, err
	}
	return true, nil
}

// sameFile reports whether dst has src's content and mode.
func sameFile(src *os.File, dst string, mode fs.FileMode) (bool, error) {
	out, err := os.Open(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer out.Close()
	si, err := src.Stat()
	if err != nil {
		return false, err
	}
	di, err := out.Stat()
	if err != nil {
		return false, err
	}
	if si.Size() != di.Size() || di.Mode().Perm() != mode {
		return false, nil
	}
	a, b := make([]byte, 1<<16), make([]byte, 1<<16)
	for {
		n, err := io.ReadFull(src, a)
		if _, err2 := io.ReadFull(out, b[:n]); err2 != nil && n > 0 {
			return false, nil
		}
		if !bytes.Equal(a[:n], b[:n]) {
			return false, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// removeFile removes path and reports whether it was there.
func removeFile(path string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}
