package installer

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/pelletier/go-toml/v2"

	"github.com/brisk-containers/brisk/config"
)

// SnapshotterNames are the proxy plugins (and CRI runtime handlers) the
// drop-in declares for cfg, all on the one socket: "brisk" for [snapshotter]
// and one per [snapshotter.profiles.NAME], which brisk-snapshotter tells
// apart by the plugin name containerd sends.
func SnapshotterNames(cfg config.Config) []string {
	names := []string{config.DefaultSnapshotterName}
	for _, p := range cfg.Snapshotter.ProfileList() {
		// A profile named "brisk" takes over the default plugin rather
		// than declaring it twice.
		if p.Name != config.DefaultSnapshotterName {
			names = append(names, p.Name)
		}
	}
	return names
}

const (
	runcRuntimeType = "io.containerd.runc.v2"
	shimName        = "containerd-shim-brisk-v2"
)

// criPlugin is the CRI runtime plugin's table per containerd config version.
var criPlugin = map[int64]string{2: "io.containerd.grpc.v1.cri", 3: "io.containerd.cri.v1.runtime"}

// containerdConfig is the part of the operator's containerd config the
// drop-in is derived from.
type containerdConfig struct {
	// path is the file containerd reads (host path): Layout.ContainerdConfig
	// with its symlinks followed, which is the file to edit.
	path    string
	exists  bool
	version int64
	doc     map[string]any
}

// readContainerdConfig reads the operator's containerd config, through any
// symlinks (configuration management often links it). Without one
// containerd runs on its defaults, and the file created for the imports
// line has version newVersion: 3 for containerd 2.x, 2 for 1.7, which
// refuses a version 3 file.
func readContainerdConfig(l Layout, newVersion int64) (containerdConfig, error) {
	path, err := l.resolve(l.ContainerdConfig)
	if err != nil {
		return containerdConfig{}, err
	}
	name := l.ContainerdConfig
	if path != name {
		name += " (→ " + path + ")"
	}
	data, err := os.ReadFile(l.host(path))
	if errors.Is(err, fs.ErrNotExist) {
		if _, ok := criPlugin[newVersion]; !ok {
			return containerdConfig{}, fmt.Errorf("containerd config version %d for a new %s: want 2 or 3: %w", newVersion, name, errdefs.ErrInvalidArgument)
		}
		return containerdConfig{path: path, version: newVersion, doc: map[string]any{}}, nil
	}
	if err != nil {
		return containerdConfig{}, err
	}
	c := containerdConfig{path: path, exists: true, doc: map[string]any{}}
	if err := toml.Unmarshal(data, &c.doc); err != nil {
		return c, fmt.Errorf("containerd config %s: %w", name, err)
	}
	v, _ := c.doc["version"].(int64)
	if _, ok := criPlugin[v]; !ok {
		return c, fmt.Errorf("containerd config %s: version = %v: want 2 (containerd 1.7) or 3 (containerd 2.x): %w",
			name, c.doc["version"], errdefs.ErrNotImplemented)
	}
	c.version = v
	return c, nil
}

// table walks nested tables by key.
func table(doc map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, ok := doc[k].(map[string]any)
		if !ok {
			return nil
		}
		doc = next
	}
	return doc
}

// defaultRuncOptions are the options of the operator's default CRI runtime
// when it is runc: brisk pods must get the same cgroup driver
// (SystemdCgroup) and runc binary as the node's other pods.
func (c containerdConfig) defaultRuncOptions() map[string]any {
	cri := table(c.doc, "plugins", criPlugin[c.version], "containerd")
	name, _ := cri["default_runtime_name"].(string)
	if name == "" {
		name = "runc"
	}
	rt := table(cri, "runtimes", name)
	if rt == nil || rt["runtime_type"] != runcRuntimeType {
		return nil
	}
	return table(rt, "options")
}

// unpackConfig is the transfer service's unpack list with an entry for each
// brisk snapshotter. An imported file's list replaces the main file's, so
// the main file's entries (or containerd's default, the native platform on
// overlayfs) are carried over.
func (c containerdConfig) unpackConfig(names []string) []any {
	entries, _ := table(c.doc, "plugins", "io.containerd.transfer.v1.local")["unpack_config"].([]any)
	if len(entries) == 0 {
		entries = []any{map[string]any{"platform": platforms.DefaultString(), "snapshotter": "overlayfs"}}
	}
	platform := platforms.DefaultString()
	if first, ok := entries[0].(map[string]any); ok && first["platform"] != nil {
		platform, _ = first["platform"].(string)
	}
	out := append([]any(nil), entries...)
	for _, name := range names {
		found := false
		for _, e := range entries {
			if m, ok := e.(map[string]any); ok && m["snapshotter"] == name {
				found = true
			}
		}
		if !found {
			out = append(out, map[string]any{"platform": platform, "snapshotter": name})
		}
	}
	return out
}

const dropinHeader = `# Written by brisk-installer from the Brisk config and %s;
# removed by brisk-installer uninstall. Edits are overwritten by the next install.
# The runtimes are runc's type with the brisk shim as runtime_path, so CRI treats
# them as runc (features, typed options).
`

// dropin renders the containerd drop-in for cfg.
func dropin(l Layout, cfg config.Config, c containerdConfig) ([]byte, error) {
	names := SnapshotterNames(cfg)
	proxies := map[string]any{}
	runtimes := map[string]any{}
	for _, name := range names {
		proxies[name] = map[string]any{
			"type":    "snapshot",
			"address": cfg.Snapshotter.Address,
			"exports": map[string]any{"root": cfg.Snapshotter.Root},
		}
		rt := map[string]any{
			"runtime_type": runcRuntimeType,
			"runtime_path": filepath.Join(l.BinDir, shimName),
			"snapshotter":  name,
			// brisk.io/logs and brisk.io/task-id reach the shim, and the
			// restart count keeps a restarted container's log apart.
			"pod_annotations":       []string{"brisk.io/*"},
			"container_annotations": []string{"brisk.io/*", "io.kubernetes.container.restartCount"},
		}
		if opts := c.defaultRuncOptions(); opts != nil {
			rt["options"] = opts
		}
		runtimes[name] = rt
	}
	plugins := map[string]any{
		criPlugin[c.version]: map[string]any{"containerd": map[string]any{"runtimes": runtimes}},
	}
	if c.version >= 3 {
		plugins["io.containerd.transfer.v1.local"] = map[string]any{"unpack_config": c.unpackConfig(names)}
	}
	body, err := toml.Marshal(map[string]any{"version": c.version, "proxy_plugins": proxies, "plugins": plugins})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, dropinHeader, l.ContainerdConfig)
	b.Write(body)
	return b.Bytes(), nil
}
