package installer

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// importsMarker ends the line the installer adds, so uninstall can tell it
// from the operator's.
const importsMarker = "# added by brisk-installer; removed by its uninstall"

// importsCover reports whether the main config has imports, and whether
// they load the drop-in, resolved as containerd resolves them (relative to
// the config's directory, globs matched).
func importsCover(c containerdConfig, l Layout) (has, covers bool) {
	list, has := c.doc["imports"].([]any)
	for _, item := range list {
		p, _ := item.(string)
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(l.ContainerdConfig), p)
		}
		if ok, _ := filepath.Match(filepath.Clean(p), l.DropinPath()); ok {
			return has, true
		}
	}
	return has, false
}

// ensureImports makes the containerd config import the drop-in, adding one
// `imports` line if the config has none. An operator's own imports that do
// not take the drop-in are not rewritten: that is an error saying what to
// add. The line goes into the file containerd reads, a symlink's target,
// which keeps its owner, mode and xattrs.
func ensureImports(l Layout, c containerdConfig, st *state) (bool, error) {
	has, covers := importsCover(c, l)
	if covers {
		return false, nil
	}
	if has {
		return false, fmt.Errorf("containerd config %s has imports = %v, which does not load %s: add %q to it, or set the drop-in directory to one it imports: %w",
			l.ContainerdConfig, c.doc["imports"], l.DropinPath(), l.DropinPath(), errdefs.ErrFailedPrecondition)
	}
	line := "imports = [" + strconv.Quote(l.DropinPath()) + "] " + importsMarker
	path := l.host(c.path)
	if !c.exists {
		if err := st.mkdirAll(l, filepath.Dir(c.path), 0o755); err != nil {
			return false, err
		}
		st.CreatedContainerdConfig = fmt.Sprintf("version = %d\n%s\n", c.version, line)
		st.ImportsLine = line
		_, err := writeFile(path, []byte(st.CreatedContainerdConfig), 0o644)
		return true, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	out, inserted := insertTopLevel(data, line)
	st.ImportsLine, st.ImportsInserted = line, inserted
	_, err = editFile(path, out)
	return true, err
}

// insertTopLevel adds line among the top-level keys: after `version`, or
// first, and in any case before the first table header. It only inserts,
// and returns what it inserted, so that taking that out again gives back
// data byte for byte: after a last line with no newline it adds a newline
// and the line, not the newline the file lacked.
func insertTopLevel(data []byte, line string) (out []byte, inserted string) {
	lines := strings.SplitAfter(string(data), "\n")
	at := 0
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			break
		}
		if k, _, ok := strings.Cut(t, "="); ok && strings.TrimSpace(k) == "version" {
			at = i + 1
			break
		}
	}
	offset := len(strings.Join(lines[:at], ""))
	inserted = line + "\n"
	if at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
		inserted = "\n" + line
	}
	out = make([]byte, 0, len(data)+len(inserted))
	out = append(append(append(out, data[:offset]...), inserted...), data[offset:]...)
	return out, inserted
}

// removeImports undoes ensureImports as recorded in st, in the file the
// config's symlinks lead to now.
func removeImports(l Layout, st *state) (bool, error) {
	if st.ImportsLine == "" {
		return false, nil
	}
	target, err := l.resolve(l.ContainerdConfig)
	if err != nil {
		return false, err
	}
	path := l.host(target)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if st.CreatedContainerdConfig != "" && string(data) == st.CreatedContainerdConfig {
		return removeFile(path)
	}
	// What was inserted, else (the operator moved it, or an earlier
	// installer recorded only the line) the line with or without its
	// newline.
	out := data
	for _, text := range []string{st.ImportsInserted, st.ImportsLine + "\n", "\n" + st.ImportsLine, st.ImportsLine} {
		if text != "" && bytes.Contains(data, []byte(text)) {
			out = bytes.Replace(data, []byte(text), nil, 1)
			break
		}
	}
	if bytes.Equal(out, data) {
		return false, nil
	}
	return editFile(path, out)
}
