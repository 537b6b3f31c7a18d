package installer

import "strings"

// snapshotterUnit is contrib/systemd/brisk-snapshotter.service with the
// binary and config paths of the layout (a test keeps the two the same).
const snapshotterUnit = `[Unit]
Description=Brisk snapshotter (containerd proxy snapshotter with fast upperdirs)
Documentation=https://github.com/brisk-containers/brisk
# containerd dials the socket at start: be up and serving before it.
Before=containerd.service
After=local-fs.target
# A dedicated upper_dir mount, if used, must be mounted first:
# RequiresMountsFor=/mnt/brisk-nvme

[Service]
Type=notify
ExecStart=@BIN@/brisk-snapshotter --config @CONFIG@
# No S3 credentials: brisk-logd is the node's log retrier, this daemon never
# talks to S3.
Restart=always
RestartSec=1
# Running containers keep their tmpfs mounts when we stop: kill only the daemon.
KillMode=process
# Mounts must land in the host mount namespace, where containerd sees them.
PrivateMounts=no
LimitNOFILE=1048576
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
# Wanted, not required: with RequiredBy every restart of the snapshotter (an
# upgrade, a new config) would restart containerd, and stopping it would stop
# containerd.
WantedBy=containerd.service
`

// logdUnit is contrib/systemd/brisk-logd.service with the layout's paths.
const logdUnit = `[Unit]
Description=Brisk log daemon (the node log API, and the node's log retrier)
Documentation=https://github.com/brisk-containers/brisk
# Peers and S3 are reached over the network; the spool is read where the
# shims write it, whether containerd runs or not.
After=network-online.target local-fs.target
Wants=network-online.target

[Service]
ExecStart=@BIN@/brisk-logd --config @CONFIG@
# It is the node's log retrier: the shims' S3 credentials, if the node has no
# instance role (see containerd.service.d/brisk.conf).
EnvironmentFile=-@S3ENV@
Restart=always
RestartSec=1
# Every follower and every proxied peer stream holds descriptors.
LimitNOFILE=65536
NoNewPrivileges=yes

[Install]
WantedBy=multi-user.target
`

// containerdEnv is contrib/systemd/containerd.service.d/brisk.conf with the
// layout's paths.
const containerdEnv = `# /etc/systemd/system/containerd.service.d/brisk.conf
# containerd starts containerd-shim-brisk-v2 with its own environment: this is
# where the shim gets its config path. The shim needs no S3 credentials: it
# hands each finished log to brisk-logd, which ships it (and reads
# /etc/brisk/s3.env itself), so containerd holds none.
[Service]
Environment=BRISK_CONFIG=@CONFIG@
`

func render(tmpl string, l Layout) []byte {
	return []byte(strings.NewReplacer("@BIN@", l.BinDir, "@CONFIG@", l.ConfigPath, "@S3ENV@", l.S3EnvPath).Replace(tmpl))
}

// SnapshotterUnitFile is the unit for l.
func SnapshotterUnitFile(l Layout) []byte { return render(snapshotterUnit, l) }

// LogdUnitFile is brisk-logd's unit for l.
func LogdUnitFile(l Layout) []byte { return render(logdUnit, l) }

// ContainerdEnvFile is containerd's environment drop-in for l.
func ContainerdEnvFile(l Layout) []byte { return render(containerdEnv, l) }
