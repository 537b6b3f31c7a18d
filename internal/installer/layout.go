// Package installer puts Brisk on a node and takes it off again: binaries,
// /etc/brisk, systemd units for brisk-snapshotter and brisk-logd, and a
// containerd drop-in
// loaded through the main config's `imports`. It runs in a privileged
// DaemonSet pod with the host's / mounted at HostRoot, so every path it is
// given is a host path; what it writes into files (unit, drop-in) is a host
// path too.
package installer

import "path/filepath"

// Binaries are the programs installed into Layout.BinDir.
var Binaries = []string{"brisk-snapshotter", "brisk-logd", "briskctl", "containerd-shim-brisk-v2"}

// Units systemd manages for Brisk (snapshotter, log daemon) and around it
// (containerd).
const (
	SnapshotterUnit = "brisk-snapshotter.service"
	LogdUnit        = "brisk-logd.service"
	ContainerdUnit  = "containerd.service"
)

// Layout is where Brisk goes on the host, every path as the host sees it.
type Layout struct {
	// HostRoot is where the host's / is mounted for the installer: "/host"
	// in the DaemonSet, "/" when run on the host itself.
	HostRoot string
	// BinDir gets the binaries; containerd finds the shim there on its PATH
	// (ctr --runtime io.containerd.brisk.v2) and by runtime_path (CRI).
	BinDir string
	// ConfigPath is Brisk's config (the ConfigMap's copy).
	ConfigPath string
	// S3EnvPath holds S3 credentials for the shims and brisk-logd, mode
	// 0600.
	S3EnvPath string
	// LogdTokensPath holds brisk-logd's bearer tokens ([logs.api]
	// tokens_file), mode 0600.
	LogdTokensPath string
	// ContainerdConfig is the operator's config.toml; only an `imports`
	// line is ever added to it.
	ContainerdConfig string
	// DropinDir gets brisk.toml, the containerd drop-in.
	DropinDir string
	// SystemdDir gets the snapshotter's and brisk-logd's units and
	// containerd's environment drop-in.
	SystemdDir string
	// StateDir records what the installer created, for uninstall.
	StateDir string
}

// DefaultLayout is the layout of `make install` and the README.
func DefaultLayout() Layout {
	return Layout{
		HostRoot:         "/",
		BinDir:           "/usr/local/bin",
		ConfigPath:       "/etc/brisk/config.toml",
		S3EnvPath:        "/etc/brisk/s3.env",
		LogdTokensPath:   "/etc/brisk/logd-tokens",
		ContainerdConfig: "/etc/containerd/config.toml",
		DropinDir:        "/etc/containerd/conf.d",
		SystemdDir:       "/etc/systemd/system",
		StateDir:         "/var/lib/brisk-installer",
	}
}

// host is where the installer reaches host path p.
func (l Layout) host(p string) string { return filepath.Join(l.HostRoot, p) }

// DropinPath is the containerd drop-in.
func (l Layout) DropinPath() string { return filepath.Join(l.DropinDir, "brisk.toml") }

// UnitPath is the snapshotter's systemd unit.
func (l Layout) UnitPath() string { return filepath.Join(l.SystemdDir, SnapshotterUnit) }

// LogdUnitPath is brisk-logd's systemd unit.
func (l Layout) LogdUnitPath() string { return filepath.Join(l.SystemdDir, LogdUnit) }

// ContainerdEnvPath is containerd's systemd drop-in giving the shim its
// environment (BRISK_CONFIG, S3 credentials).
func (l Layout) ContainerdEnvPath() string {
	return filepath.Join(l.SystemdDir, ContainerdUnit+".d", "brisk.conf")
}

func (l Layout) statePath() string { return filepath.Join(l.StateDir, "state.json") }

// Sources are the installer's inputs inside its own container.
type Sources struct {
	// BinDir holds the binaries to install (the image's /opt/brisk/bin).
	BinDir string
	// Config is Brisk's config, the ConfigMap's key config.toml.
	Config string
	// S3Env, when the file exists (an optional Secret), becomes S3EnvPath.
	S3Env string
	// LogdTokens, when the file exists (an optional Secret), becomes
	// LogdTokensPath.
	LogdTokens string
}
