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
// add.
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
	path := l.host(l.ContainerdConfig)
	if !c.exists {
		if err := st.mkdirAll(l, filepath.Dir(l.ContainerdConfig), 0o755); err != nil {
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
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	st.ImportsLine = line
	_, err = writeFile(path, insertTopLevel(data, line), fi.Mode().Perm())
	return true, err
}

// insertTopLevel adds line among the top-level keys: after `version`, or
// first, and in any case before the first table header.
func insertTopLevel(data []byte, line string) []byte {
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
	if at > 0 && !strings.HasSuffix(lines[at-1], "\n") {
		lines[at-1] += "\n"
	}
	out := append(append(append([]string(nil), lines[:at]...), line+"\n"), lines[at:]...)
	return []byte(strings.Join(out, ""))
}

// removeImports undoes ensureImports as recorded in st.
func removeImports(l Layout, st *state) (bool, error) {
	if st.ImportsLine == "" {
		return false, nil
	}
	path := l.host(l.ContainerdConfig)
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
	out := bytes.Replace(data, []byte(st.ImportsLine+"\n"), nil, 1)
	if bytes.Equal(out, data) {
		return false, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	_, err = writeFile(path, out, fi.Mode().Perm())
	return true, err
}
