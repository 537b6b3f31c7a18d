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
)

// Installer installs and uninstalls Brisk on one host.
type Installer struct {
	Layout   Layout
	Sources  Sources
	Services Services
	// Users lists the containers still using Brisk; uninstall refuses
	// while there are any.
	Users func(ctx context.Context, snapshotters []string) ([]string, error)
	// PendingLogs lists the task logs in the host path spoolDir not
	// shipped yet (spool.Pending); uninstall refuses while there are any.
	// The caller passes it in, as Users, so that the installer does not
	// link the log spool (imports point down).
	PendingLogs func(spoolDir string) ([]string, error)
	// QuarantinedLogs lists the task logs in the host path spoolDir that
	// can never ship without an operator (spool.Quarantined): uninstall
	// keeps them and says where. Passed in as PendingLogs is.
	QuarantinedLogs func(spoolDir string) ([]string, error)
	// NewConfigVersion is the version of a containerd config created where
	// there is none: 3 (containerd 2.x, the default) or 2 (1.7).
	NewConfigVersion int64
}

// Result says what a run changed on the host and which service actions it
// took.
type Result struct {
	Changed []string // host paths
	Actions []string // "restart containerd.service", ...
	// Kept are what uninstall left on purpose, each "PATH: why": data
	// that was there before the install, quarantined logs.
	Kept []string
}

// run is one install or uninstall: the layout, the record of what it
// created, and what it did so far.
type run struct {
	*Installer
	l   Layout
	st  state
	res Result
}

func (in *Installer) newRun() (*run, error) {
	st, err := loadState(in.Layout)
	if err != nil {
		return nil, err
	}
	return &run{Installer: in, l: in.Layout, st: st}, nil
}

// changed records path as changed when ok, and returns ok.
func (r *run) changed(path string, ok bool) bool {
	if ok {
		r.res.Changed = append(r.res.Changed, path)
	}
	return ok
}

// write puts data at host path p unless it is there already.
func (r *run) write(p string, data []byte, mode fs.FileMode) (bool, error) {
	if err := r.st.mkdirAll(r.l, filepath.Dir(p), 0o755); err != nil {
		return false, err
	}
	changed, err := writeFile(r.l.host(p), data, mode)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", p, err)
	}
	return r.changed(p, changed), nil
}

// remove removes host path p if it is there.
func (r *run) remove(p string) (bool, error) {
	ok, err := removeFile(r.l.host(p))
	return r.changed(p, ok), err
}

// keep records host path p as left in place on purpose.
func (r *run) keep(p, why string) {
	r.res.Kept = append(r.res.Kept, p+": "+why)
}

// act asks the service manager for one action, recording it.
func (r *run) act(ctx context.Context, what string, fn func() error) error {
	log.G(ctx).Info(what)
	r.res.Actions = append(r.res.Actions, what)
	return fn()
}

// Install makes the host match the sources: it writes only what differs,
// and restarts containerd only when its drop-in, its imports or its
// environment changed, the snapshotter only when its binary, config or unit
// changed.
func (in *Installer) Install(ctx context.Context) (Result, error) {
	cfgData, err := os.ReadFile(in.Sources.Config)
	if err != nil {
		return Result{}, fmt.Errorf("brisk config: %w", err)
	}
	cfg, err := config.Parse(cfgData)
	if err != nil {
		return Result{}, fmt.Errorf("brisk config %s: %w", in.Sources.Config, err)
	}
	version := in.NewConfigVersion
	if version == 0 {
		version = 3
	}
	ctdCfg, err := readContainerdConfig(in.Layout, version)
	if err != nil {
		return Result{}, err
	}
	r, err := in.newRun()
	if err != nil {
		return Result{}, err
	}
	snapshotterChanged, s3Changed, err := r.installFiles(cfg, cfgData)
	if err != nil {
		return r.res, err
	}
	unitExisted, unitChanged, envChanged, err := r.installUnits()
	if err != nil {
		return r.res, err
	}
	containerdChanged, err := r.installContainerdConfig(cfg, ctdCfg)
	if err != nil {
		return r.res, err
	}
	// Recorded before any service is touched: an interrupted install can
	// still be uninstalled.
	if err := r.st.save(r.l); err != nil {
		return r.res, err
	}

	// The snapshotter serves before containerd restarts and dials it.
	if unitChanged || envChanged {
		if err := r.act(ctx, "daemon-reload", func() error { return in.Services.Reload(ctx) }); err != nil {
			return r.res, err
		}
	}
	switch {
	case !unitExisted:
		err = r.act(ctx, "enable --now "+SnapshotterUnit, func() error { return in.Services.EnableNow(ctx, SnapshotterUnit) })
	case unitChanged || snapshotterChanged:
		err = r.act(ctx, "restart "+SnapshotterUnit, func() error { return in.Services.Restart(ctx, SnapshotterUnit) })
	}
	if err != nil {
		return r.res, err
	}
	if containerdChanged || envChanged || s3Changed {
		err = r.act(ctx, "restart "+ContainerdUnit, func() error { return in.Services.Restart(ctx, ContainerdUnit) })
	}
	return r.res, err
}

// installFiles installs the binaries, the config and the S3 credentials,
// and creates the daemons' directories. A new snapshotter binary or config
// needs a snapshotter restart; shims and briskctl are started fresh for
// each task; the credentials reach shims through containerd's environment.
func (r *run) installFiles(cfg config.Config, cfgData []byte) (snapshotterChanged, s3Changed bool, err error) {
	if err := r.st.mkdirAll(r.l, r.l.BinDir, 0o755); err != nil {
		return false, false, err
	}
	for _, name := range Binaries {
		dst := filepath.Join(r.l.BinDir, name)
		changed, err := copyFile(filepath.Join(r.Sources.BinDir, name), r.l.host(dst), 0o755)
		if err != nil {
			return false, false, fmt.Errorf("install %s: %w", dst, err)
		}
		if r.changed(dst, changed) && name == "brisk-snapshotter" {
			snapshotterChanged = true
		}
	}
	changed, err := r.write(r.l.ConfigPath, cfgData, 0o644)
	if err != nil {
		return false, false, err
	}
	snapshotterChanged = snapshotterChanged || changed
	if r.Sources.S3Env != "" {
		data, err := os.ReadFile(r.Sources.S3Env)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return false, false, err
		default:
			if s3Changed, err = r.write(r.l.S3EnvPath, data, 0o600); err != nil {
				return false, false, err
			}
		}
	}
	// Created here, so uninstall knows which were not there before, and
	// what those that were there held then.
	for _, dir := range dataDirs(cfg) {
		if err := r.st.notePreExisting(r.l, dir); err != nil {
			return false, false, err
		}
	}
	for _, dir := range []string{cfg.Snapshotter.Root, filepath.Dir(cfg.Snapshotter.Address), cfg.Logs.SpoolDir, cfg.Logs.LocalDir} {
		if err := r.st.mkdirAll(r.l, dir, 0o755); err != nil {
			return false, false, err
		}
	}
	return snapshotterChanged, s3Changed, nil
}

// installUnits writes the snapshotter's unit and containerd's environment.
func (r *run) installUnits() (unitExisted, unitChanged, envChanged bool, err error) {
	_, err = os.Stat(r.l.host(r.l.UnitPath()))
	unitExisted = err == nil
	if unitChanged, err = r.write(r.l.UnitPath(), SnapshotterUnitFile(r.l), 0o644); err != nil {
		return
	}
	envChanged, err = r.write(r.l.ContainerdEnvPath(), ContainerdEnvFile(r.l), 0o644)
	return
}

// installContainerdConfig writes the drop-in and the imports line that
// loads it.
func (r *run) installContainerdConfig(cfg config.Config, ctdCfg containerdConfig) (bool, error) {
	dropin, err := dropin(r.l, cfg, ctdCfg)
	if err != nil {
		return false, err
	}
	dropinChanged, err := r.write(r.l.DropinPath(), dropin, 0o644)
	if err != nil {
		return false, err
	}
	importsChanged, err := ensureImports(r.l, ctdCfg, &r.st)
	if err != nil {
		return false, err
	}
	return r.changed(r.l.ContainerdConfig, importsChanged) || dropinChanged, nil
}

// Uninstall removes everything Install put on the host and restores the
// containerd config, refusing (errdefs.ErrFailedPrecondition) while a
// container uses Brisk, the spool holds logs not yet shipped or snapshots
// are still mounted. Logs in local_dir stay, and so do quarantined logs and
// whatever the data directories held before the first install
// (Result.Kept says where).
func (in *Installer) Uninstall(ctx context.Context) (Result, error) {
	cfg, err := config.Load(in.Layout.host(in.Layout.ConfigPath), true)
	if err != nil {
		return Result{}, err
	}
	if err := in.checkUnused(ctx, cfg); err != nil {
		return Result{}, err
	}
	r, err := in.newRun()
	if err != nil {
		return Result{}, err
	}
	if err := r.uninstallContainerdConfig(ctx); err != nil {
		return r.res, err
	}
	if err := r.uninstallSnapshotter(ctx); err != nil {
		return r.res, err
	}
	return r.res, r.removeFiles(cfg)
}

// checkUnused refuses while anything on the node still needs Brisk.
func (in *Installer) checkUnused(ctx context.Context, cfg config.Config) error {
	users, err := in.Users(ctx, SnapshotterNames(cfg))
	if err != nil {
		return fmt.Errorf("cannot tell whether containers use brisk: %w", err)
	}
	if len(users) > 0 {
		return fmt.Errorf("containers still use brisk: %s: %w", strings.Join(users, ", "), errdefs.ErrFailedPrecondition)
	}
	if in.PendingLogs == nil {
		return fmt.Errorf("cannot tell whether task logs in %s are shipped: the installer has no PendingLogs: %w", cfg.Logs.SpoolDir, errdefs.ErrFailedPrecondition)
	}
	pending, err := in.PendingLogs(in.Layout.host(cfg.Logs.SpoolDir))
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("%d task logs in %s are not shipped yet (briskctl flush): %w", len(pending), cfg.Logs.SpoolDir, errdefs.ErrFailedPrecondition)
	}
	// Snapshots of removed containers keep their tmpfs until containerd's
	// garbage collector removes them: wait for that rather than stop half
	// way with a busy root.
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(in.Layout.host(cfg.Snapshotter.Root)))
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("%d mounts under %s, e.g. %s: containerd has not removed those snapshots yet: %w",
			len(mounts), cfg.Snapshotter.Root, mounts[0].Mountpoint, errdefs.ErrFailedPrecondition)
	}
	return nil
}

// uninstallContainerdConfig makes containerd forget brisk, while the
// snapshotter still serves.
func (r *run) uninstallContainerdConfig(ctx context.Context) error {
	dropinGone, err := r.remove(r.l.DropinPath())
	if err != nil {
		return err
	}
	importsGone, err := removeImports(r.l, &r.st)
	if err != nil {
		return err
	}
	r.changed(r.l.ContainerdConfig, importsGone)
	envGone, err := r.remove(r.l.ContainerdEnvPath())
	if err != nil {
		return err
	}
	s3Gone, err := r.remove(r.l.S3EnvPath)
	if err != nil {
		return err
	}
	if envGone {
		if err := r.act(ctx, "daemon-reload", func() error { return r.Services.Reload(ctx) }); err != nil {
			return err
		}
	}
	if dropinGone || importsGone || envGone || s3Gone {
		return r.act(ctx, "restart "+ContainerdUnit, func() error { return r.Services.Restart(ctx, ContainerdUnit) })
	}
	return nil
}

// uninstallSnapshotter stops and disables the snapshotter's unit and
// removes it.
func (r *run) uninstallSnapshotter(ctx context.Context) error {
	if _, err := os.Stat(r.l.host(r.l.UnitPath())); err != nil {
		return nil
	}
	if err := r.act(ctx, "disable --now "+SnapshotterUnit, func() error { return r.Services.DisableNow(ctx, SnapshotterUnit) }); err != nil {
		return err
	}
	if _, err := r.remove(r.l.UnitPath()); err != nil {
		return err
	}
	return r.act(ctx, "daemon-reload", func() error { return r.Services.Reload(ctx) })
}

// removeFiles removes the binaries, the config, the snapshotter's data
// (its layers: containerd keeps the images and unpacks them again if brisk
// comes back), the socket and the spool but for quarantined logs, the
// state, and every directory the installs created that is now empty. Of a
// data directory that was there before, only what came after goes.
func (r *run) removeFiles(cfg config.Config) error {
	for _, name := range Binaries {
		if _, err := r.remove(filepath.Join(r.l.BinDir, name)); err != nil {
			return err
		}
	}
	quarantined, err := r.quarantinedLogs(cfg.Logs.SpoolDir)
	if err != nil {
		return err
	}
	for _, q := range quarantined {
		r.keep(q, "a quarantined task log, which never shipped (its reason file says why): copy it away or delete it")
	}
	for _, dir := range dataDirs(cfg) {
		if err := r.removeData(dir, quarantined); err != nil {
			return err
		}
	}
	for _, p := range []string{cfg.Snapshotter.Address, r.l.ConfigPath, r.l.statePath()} {
		if _, err := r.remove(p); err != nil {
			return err
		}
	}
	r.st.removeDirs(r.l)
	return nil
}
