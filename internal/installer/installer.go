package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
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
	// NodeKeys go into the installed config's [logs.api].
	NodeKeys NodeKeys
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
// changed, brisk-logd only when its binary, unit, [logs] section or S3
// credentials changed.
func (in *Installer) Install(ctx context.Context) (Result, error) {
	src, err := os.ReadFile(in.Sources.Config)
	if err != nil {
		return Result{}, fmt.Errorf("brisk config: %w", err)
	}
	cfgData, err := withNodeKeys(src, in.NodeKeys)
	if err != nil {
		return Result{}, fmt.Errorf("brisk config %s: %w", in.Sources.Config, err)
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
	files, err := r.installFiles(cfg, cfgData)
	if err != nil {
		return r.res, err
	}
	units, err := r.installUnits()
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
	if units.snapshotter.changed || units.logd.changed || units.env {
		if err := r.act(ctx, "daemon-reload", func() error { return in.Services.Reload(ctx) }); err != nil {
			return r.res, err
		}
	}
	if err := r.startOrRestart(ctx, SnapshotterUnit, units.snapshotter, files.snapshotter); err != nil {
		return r.res, err
	}
	if err := r.startOrRestart(ctx, LogdUnit, units.logd, files.logd); err != nil {
		return r.res, err
	}
	// s3.env is brisk-logd's alone: the shims containerd starts hand their
	// logs to brisk-logd and hold no credentials.
	if containerdChanged || units.env {
		err = r.act(ctx, "restart "+ContainerdUnit, func() error { return in.Services.Restart(ctx, ContainerdUnit) })
	}
	return r.res, err
}

// startOrRestart enables and starts a unit that was not installed, and
// restarts one whose unit file or inputs changed.
func (r *run) startOrRestart(ctx context.Context, unit string, u unitChange, inputsChanged bool) error {
	switch {
	case !u.existed:
		return r.act(ctx, "enable --now "+unit, func() error { return r.Services.EnableNow(ctx, unit) })
	case u.changed || inputsChanged:
		return r.act(ctx, "restart "+unit, func() error { return r.Services.Restart(ctx, unit) })
	}
	return nil
}

// fileChanges says which daemons' inputs installFiles changed.
type fileChanges struct {
	snapshotter bool // its binary or the config
	logd        bool // its binary, [logs], the S3 credentials or a first tokens file
	s3          bool // the S3 credentials, which shims get from containerd
}

// installFiles installs the binaries, the config, the S3 credentials and
// brisk-logd's tokens, and creates the daemons' directories. A new
// snapshotter binary or config needs a snapshotter restart; brisk-logd
// restarts for its binary, a change in [logs] (the only section it reads:
// a profile's edit does not cut its followers off), the credentials its
// unit reads and a first tokens file, while it re-reads a changed one by
// itself; shims and briskctl
// are started fresh for each task; the credentials reach shims through
// containerd's environment.
func (r *run) installFiles(cfg config.Config, cfgData []byte) (fileChanges, error) {
	var f fileChanges
	if err := r.st.mkdirAll(r.l, r.l.BinDir, 0o755); err != nil {
		return f, err
	}
	for _, name := range Binaries {
		dst := filepath.Join(r.l.BinDir, name)
		changed, err := copyFile(filepath.Join(r.Sources.BinDir, name), r.l.host(dst), 0o755)
		if err != nil {
			return f, fmt.Errorf("install %s: %w", dst, err)
		}
		if r.changed(dst, changed) {
			f.snapshotter = f.snapshotter || name == "brisk-snapshotter"
			f.logd = f.logd || name == "brisk-logd"
		}
	}
	installed, installedErr := config.Load(r.l.host(r.l.ConfigPath), false)
	changed, err := r.write(r.l.ConfigPath, cfgData, 0o644)
	if err != nil {
		return f, err
	}
	f.snapshotter = f.snapshotter || changed
	f.logd = f.logd || changed && (installedErr != nil || !reflect.DeepEqual(installed.Logs, cfg.Logs))
	if _, f.s3, err = r.writeOptional(r.Sources.S3Env, r.l.S3EnvPath); err != nil {
		return f, err
	}
	_, statErr := os.Stat(r.l.host(r.l.LogdTokensPath))
	tokens, tokensChanged, err := r.writeOptional(r.Sources.LogdTokens, r.l.LogdTokensPath)
	if err != nil {
		return f, err
	}
	if tokens {
		r.st.noteWritten(r.l.LogdTokensPath)
	}
	// brisk-logd re-reads its tokens file when it changes, and a restart
	// would cut its followers off; but while the file named by
	// tokens_file is missing it cannot start, and systemd gives up on it
	// after a few tries: a first tokens file restarts it.
	f.logd = f.logd || f.s3 || tokensChanged && errors.Is(statErr, fs.ErrNotExist)
	// Created here, so uninstall knows which were not there before, and
	// what those that were there held then.
	for _, dir := range dataDirs(cfg) {
		if err := r.st.notePreExisting(r.l, dir); err != nil {
			return f, err
		}
	}
	dirs := []string{cfg.Snapshotter.Root, filepath.Dir(cfg.Snapshotter.Address), cfg.Logs.SpoolDir, cfg.Logs.LocalDir}
	if sock := logdSocket(cfg); sock != "" {
		dirs = append(dirs, filepath.Dir(sock))
	}
	for _, dir := range dirs {
		if err := r.st.mkdirAll(r.l, dir, 0o755); err != nil {
			return f, err
		}
	}
	return f, nil
}

// writeOptional installs source file src (an optional Secret's key) at
// host path dst, mode 0600, when src exists (written), and says whether dst
// changed.
func (r *run) writeOptional(src, dst string) (written, changed bool, err error) {
	if src == "" {
		return false, false, nil
	}
	data, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	changed, err = r.write(dst, data, 0o600)
	return err == nil, changed, err
}

// unitChange says whether a unit file was there before this run and
// whether this run changed it.
type unitChange struct{ existed, changed bool }

// unitChanges are the units installUnits wrote.
type unitChanges struct {
	snapshotter, logd unitChange
	env               bool // containerd's environment drop-in
}

// installUnits writes the snapshotter's and brisk-logd's units and
// containerd's environment.
func (r *run) installUnits() (unitChanges, error) {
	var u unitChanges
	for _, unit := range []struct {
		path string
		data []byte
		ch   *unitChange
	}{
		{r.l.UnitPath(), SnapshotterUnitFile(r.l), &u.snapshotter},
		{r.l.LogdUnitPath(), LogdUnitFile(r.l), &u.logd},
	} {
		_, err := os.Stat(r.l.host(unit.path))
		unit.ch.existed = err == nil
		if unit.ch.changed, err = r.write(unit.path, unit.data, 0o644); err != nil {
			return u, err
		}
	}
	var err error
	u.env, err = r.write(r.l.ContainerdEnvPath(), ContainerdEnvFile(r.l), 0o644)
	return u, err
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
	if err := r.uninstallUnits(ctx); err != nil {
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
	if _, err := r.remove(r.l.S3EnvPath); err != nil {
		return err
	}
	if envGone {
		if err := r.act(ctx, "daemon-reload", func() error { return r.Services.Reload(ctx) }); err != nil {
			return err
		}
	}
	if dropinGone || importsGone || envGone {
		return r.act(ctx, "restart "+ContainerdUnit, func() error { return r.Services.Restart(ctx, ContainerdUnit) })
	}
	return nil
}

// uninstallUnits stops and disables the snapshotter's and brisk-logd's
// units and removes them: the snapshotter once containerd no longer dials
// it, brisk-logd once no log waits for it to ship (checkUnused).
func (r *run) uninstallUnits(ctx context.Context) error {
	removed := false
	for _, u := range []struct{ unit, path string }{
		{SnapshotterUnit, r.l.UnitPath()},
		{LogdUnit, r.l.LogdUnitPath()},
	} {
		if _, err := os.Stat(r.l.host(u.path)); err != nil {
			continue
		}
		if err := r.act(ctx, "disable --now "+u.unit, func() error { return r.Services.DisableNow(ctx, u.unit) }); err != nil {
			return err
		}
		if _, err := r.remove(u.path); err != nil {
			return err
		}
		removed = true
	}
	if !removed {
		return nil
	}
	return r.act(ctx, "daemon-reload", func() error { return r.Services.Reload(ctx) })
}

// removeFiles removes the binaries, the config, the snapshotter's data
// (its layers: containerd keeps the images and unpacks them again if brisk
// comes back), the sockets and the spool but for quarantined logs,
// brisk-logd's tokens if the installer wrote them, the state, and every
// directory the installs created that is now empty. Of a data directory
// that was there before, only what came after goes.
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
	files := []string{cfg.Snapshotter.Address, r.l.ConfigPath}
	if sock := logdSocket(cfg); sock != "" {
		files = append(files, sock)
	}
	files = append(files, r.st.Written...)
	for _, p := range append(files, r.l.statePath()) {
		if _, err := r.remove(p); err != nil {
			return err
		}
	}
	r.st.removeDirs(r.l)
	return nil
}
