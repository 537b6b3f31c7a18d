package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/moby/sys/mountinfo"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// Installer installs and uninstalls Brisk on one host.
type Installer struct {
	Layout   Layout
	Sources  Sources
	Services Services
	// Users lists the containers still using Brisk; uninstall refuses
	// while there are any.
	Users func(ctx context.Context, snapshotters []string) ([]string, error)
}

// Result says what an install changed on the host and which services it
// started or restarted.
type Result struct {
	Changed []string // host paths
	Actions []string // "restart containerd.service", ...
}

func (r *Result) changed(path string, ok bool) bool {
	if ok {
		r.Changed = append(r.Changed, path)
	}
	return ok
}

// Install makes the host match the sources: it writes only what differs,
// and restarts containerd only when its drop-in, its imports or its
// environment changed, the snapshotter only when its binary, config or unit
// changed.
func (in *Installer) Install(ctx context.Context) (Result, error) {
	var res Result
	l := in.Layout
	cfgData, err := os.ReadFile(in.Sources.Config)
	if err != nil {
		return res, fmt.Errorf("brisk config: %w", err)
	}
	cfg, err := config.Parse(cfgData)
	if err != nil {
		return res, fmt.Errorf("brisk config %s: %w", in.Sources.Config, err)
	}
	ctdCfg, err := readContainerdConfig(l)
	if err != nil {
		return res, err
	}
	st, err := loadState(l)
	if err != nil {
		return res, err
	}

	// Binaries and config: a new snapshotter binary or config needs a
	// snapshotter restart; shims and briskctl are started fresh each time.
	restartSnapshotter := false
	if err := st.mkdirAll(l, l.BinDir, 0o755); err != nil {
		return res, err
	}
	for _, name := range Binaries {
		dst := filepath.Join(l.BinDir, name)
		changed, err := copyFile(filepath.Join(in.Sources.BinDir, name), l.host(dst), 0o755)
		if err != nil {
			return res, fmt.Errorf("install %s: %w", dst, err)
		}
		if res.changed(dst, changed) && name == "brisk-snapshotter" {
			restartSnapshotter = true
		}
	}
	if err := st.mkdirAll(l, filepath.Dir(l.ConfigPath), 0o755); err != nil {
		return res, err
	}
	changed, err := writeFile(l.host(l.ConfigPath), cfgData, 0o644)
	if err != nil {
		return res, err
	}
	restartSnapshotter = res.changed(l.ConfigPath, changed) || restartSnapshotter
	restartContainerd := false
	if in.Sources.S3Env != "" {
		data, err := os.ReadFile(in.Sources.S3Env)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return res, err
		default:
			changed, err := writeFile(l.host(l.S3EnvPath), data, 0o600)
			if err != nil {
				return res, err
			}
			// The shims get credentials from containerd's environment.
			restartContainerd = res.changed(l.S3EnvPath, changed)
		}
	}
	// The directories the daemons fill, created here so uninstall knows
	// which ones were not there before.
	for _, dir := range []string{cfg.Snapshotter.Root, filepath.Dir(cfg.Snapshotter.Address), cfg.Logs.SpoolDir, cfg.Logs.LocalDir} {
		if err := st.mkdirAll(l, dir, 0o755); err != nil {
			return res, err
		}
	}

	// systemd: the snapshotter's unit and containerd's environment.
	_, err = os.Stat(l.host(l.UnitPath()))
	unitExisted := err == nil
	if err := st.mkdirAll(l, filepath.Dir(l.ContainerdEnvPath()), 0o755); err != nil {
		return res, err
	}
	unitChanged, err := writeFile(l.host(l.UnitPath()), SnapshotterUnitFile(l), 0o644)
	if err != nil {
		return res, err
	}
	res.changed(l.UnitPath(), unitChanged)
	envChanged, err := writeFile(l.host(l.ContainerdEnvPath()), ContainerdEnvFile(l), 0o644)
	if err != nil {
		return res, err
	}
	restartContainerd = res.changed(l.ContainerdEnvPath(), envChanged) || restartContainerd

	// containerd: the drop-in and the imports line that loads it.
	dropin, err := Dropin(l, cfg, ctdCfg)
	if err != nil {
		return res, err
	}
	if err := st.mkdirAll(l, l.DropinDir, 0o755); err != nil {
		return res, err
	}
	changed, err = writeFile(l.host(l.DropinPath()), dropin, 0o644)
	if err != nil {
		return res, err
	}
	restartContainerd = res.changed(l.DropinPath(), changed) || restartContainerd
	changed, err = ensureImports(l, ctdCfg, &st)
	if err != nil {
		return res, err
	}
	restartContainerd = res.changed(l.ContainerdConfig, changed) || restartContainerd
	// Recorded before any service is touched: an interrupted install can
	// still be uninstalled.
	if err := st.save(l); err != nil {
		return res, err
	}

	// The snapshotter serves before containerd restarts and dials it.
	act := func(what string, fn func() error) error {
		log.G(ctx).Info(what)
		res.Actions = append(res.Actions, what)
		return fn()
	}
	if unitChanged || envChanged {
		if err := act("daemon-reload", func() error { return in.Services.Reload(ctx) }); err != nil {
			return res, err
		}
	}
	switch {
	case !unitExisted:
		if err := act("enable --now "+SnapshotterUnit, func() error { return in.Services.EnableNow(ctx, SnapshotterUnit) }); err != nil {
			return res, err
		}
	case unitChanged || restartSnapshotter:
		if err := act("restart "+SnapshotterUnit, func() error { return in.Services.Restart(ctx, SnapshotterUnit) }); err != nil {
			return res, err
		}
	}
	if restartContainerd {
		if err := act("restart "+ContainerdUnit, func() error { return in.Services.Restart(ctx, ContainerdUnit) }); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Uninstall removes everything Install put on the host and restores the
// containerd config, refusing (errdefs.ErrFailedPrecondition) while a
// container uses Brisk or the spool holds logs not yet shipped. Logs in
// local_dir stay.
func (in *Installer) Uninstall(ctx context.Context) (Result, error) {
	var res Result
	l := in.Layout
	cfg, err := config.Load(l.host(l.ConfigPath), true)
	if err != nil {
		return res, err
	}
	users, err := in.Users(ctx, SnapshotterNames(cfg))
	if err != nil {
		return res, fmt.Errorf("cannot tell whether containers use brisk: %w", err)
	}
	if len(users) > 0 {
		return res, fmt.Errorf("containers still use brisk: %s: %w", strings.Join(users, ", "), errdefs.ErrFailedPrecondition)
	}
	if pending, err := spool.Pending(l.host(cfg.Logs.SpoolDir)); err != nil {
		return res, err
	} else if len(pending) > 0 {
		return res, fmt.Errorf("%d task logs in %s are not shipped yet (briskctl flush): %w", len(pending), cfg.Logs.SpoolDir, errdefs.ErrFailedPrecondition)
	}
	// Snapshots of removed containers keep their tmpfs until containerd's
	// garbage collector removes them: wait for that rather than stop half
	// way with a busy root.
	if mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(l.host(cfg.Snapshotter.Root))); err != nil {
		return res, err
	} else if len(mounts) > 0 {
		return res, fmt.Errorf("%d mounts under %s, e.g. %s: containerd has not removed those snapshots yet: %w",
			len(mounts), cfg.Snapshotter.Root, mounts[0].Mountpoint, errdefs.ErrFailedPrecondition)
	}
	st, err := loadState(l)
	if err != nil {
		return res, err
	}
	act := func(what string, fn func() error) error {
		log.G(ctx).Info(what)
		res.Actions = append(res.Actions, what)
		return fn()
	}
	remove := func(path string) (bool, error) {
		ok, err := removeFile(l.host(path))
		res.changed(path, ok)
		return ok, err
	}

	// containerd forgets brisk first, while the snapshotter still serves.
	dropinGone, err := remove(l.DropinPath())
	if err != nil {
		return res, err
	}
	importsGone, err := removeImports(l, &st)
	if err != nil {
		return res, err
	}
	res.changed(l.ContainerdConfig, importsGone)
	envGone, err := remove(l.ContainerdEnvPath())
	if err != nil {
		return res, err
	}
	s3Gone, err := remove(l.S3EnvPath)
	if err != nil {
		return res, err
	}
	if envGone {
		if err := act("daemon-reload", func() error { return in.Services.Reload(ctx) }); err != nil {
			return res, err
		}
	}
	if dropinGone || importsGone || envGone || s3Gone {
		if err := act("restart "+ContainerdUnit, func() error { return in.Services.Restart(ctx, ContainerdUnit) }); err != nil {
			return res, err
		}
	}
	if _, err := os.Stat(l.host(l.UnitPath())); err == nil {
		if err := act("disable --now "+SnapshotterUnit, func() error { return in.Services.DisableNow(ctx, SnapshotterUnit) }); err != nil {
			return res, err
		}
		if _, err := remove(l.UnitPath()); err != nil {
			return res, err
		}
		if err := act("daemon-reload", func() error { return in.Services.Reload(ctx) }); err != nil {
			return res, err
		}
	}
	for _, name := range Binaries {
		if _, err := remove(filepath.Join(l.BinDir, name)); err != nil {
			return res, err
		}
	}
	// The snapshotter's data: layers unpacked for brisk (containerd keeps
	// the images' content and unpacks them again if brisk comes back), the
	// socket, the empty spool.
	for _, dir := range []string{cfg.Snapshotter.Root, cfg.Logs.SpoolDir} {
		if filepath.Clean(dir) == "/" {
			return res, fmt.Errorf("refusing to remove %q: %w", dir, errdefs.ErrInvalidArgument)
		}
		if err := os.RemoveAll(l.host(dir)); err != nil {
			return res, fmt.Errorf("remove %s: %w", dir, err)
		}
	}
	if _, err := remove(cfg.Snapshotter.Address); err != nil {
		return res, err
	}
	if _, err := remove(l.ConfigPath); err != nil {
		return res, err
	}
	if _, err := remove(l.statePath()); err != nil {
		return res, err
	}
	st.removeDirs(l)
	return res, nil
}
