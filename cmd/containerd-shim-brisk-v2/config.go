package main

import (
	"context"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/config"
	brisk "github.com/brisk-containers/brisk/shim"
)

// loadLogs reads the [logs] configuration: from $BRISK_CONFIG when set, as
// containerd starts the shim with no flags of ours, which must then exist;
// else from DefaultPath, where a missing file means the defaults.
func loadLogs(ctx context.Context, getenv func(string) string) (config.Logs, error) {
	path, explicit := getenv(config.EnvPath), true
	if path == "" {
		path, explicit = config.DefaultPath, false
	}
	cfg, err := config.Load(path, !explicit)
	if err != nil {
		return config.Logs{}, err
	}
	for _, w := range cfg.Warnings() {
		log.G(ctx).Warn(w)
	}
	return cfg.Logs, nil
}

// serviceOpts hands the task service its configuration. One that cannot be
// loaded does not stop the shim: the service refuses every task with the
// error, which names the file and the key.
func serviceOpts(ctx context.Context, getenv func(string) string) []brisk.Opt {
	l, err := loadLogs(ctx, getenv)
	if err != nil {
		return []brisk.Opt{brisk.WithConfigError(err)}
	}
	return []brisk.Opt{brisk.WithLogs(l)}
}
