// Command brisk-installer puts Brisk on a node from the Brisk image, and
// takes it off again. It runs as the DaemonSet in contrib/kubernetes with the
// host's / at /host, and also works run on the host itself (--host-root /).
//
//	brisk-installer install   [--wait] [FLAGS]  binaries, config, snapshotter and brisk-logd units, containerd drop-in
//	brisk-installer uninstall [--wait] [FLAGS]  all of it, refused while containers use brisk
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/internal/installer"
	"github.com/brisk-containers/brisk/logs/spool"
)

func main() {
	def := installer.DefaultLayout()
	self, _ := os.Executable()
	flags := []cli.Flag{
		&cli.StringFlag{Name: "host-root", Value: "/", Usage: "where the host's / is mounted (/host in the DaemonSet)"},
		&cli.StringFlag{Name: "bin-dir", Value: def.BinDir, Usage: "host directory for the binaries, on containerd's PATH"},
		&cli.StringFlag{Name: "config", Value: def.ConfigPath, Usage: "host path of Brisk's config"},
		&cli.StringFlag{Name: "s3-env", Value: def.S3EnvPath, Usage: "host path of the S3 credentials file"},
		&cli.StringFlag{Name: "logd-tokens", Value: def.LogdTokensPath, Usage: "host path of brisk-logd's tokens file (the ConfigMap's logs.api.tokens_file)"},
		&cli.StringFlag{Name: "containerd-config", Value: def.ContainerdConfig, Usage: "host path of containerd's config.toml"},
		&cli.StringFlag{Name: "containerd-dropin-dir", Value: def.DropinDir, Usage: "host directory for brisk.toml, loaded through imports"},
		&cli.StringFlag{Name: "containerd-address", Value: "/run/containerd/containerd.sock", Usage: "host path of containerd's socket (uninstall checks for brisk containers)"},
		&cli.StringFlag{Name: "systemd-dir", Value: def.SystemdDir, Usage: "host directory for systemd units"},
		&cli.Int64Flag{Name: "new-containerd-config-version", Value: 3, Usage: "version of the containerd config created when the node has none: 3 (containerd 2.x) or 2 (containerd 1.7)"},
		&cli.StringFlag{Name: "state-dir", Value: def.StateDir, Usage: "host directory where the installer records what it created"},
		&cli.StringFlag{Name: "source-bin-dir", Value: filepath.Dir(self), Usage: "directory of the binaries to install"},
		&cli.StringFlag{Name: "source-config", Value: "/etc/brisk-config/config.toml", Usage: "Brisk config to install (the ConfigMap)"},
		&cli.StringFlag{Name: "source-s3-env", Value: "/etc/brisk-secret/s3.env", Usage: "S3 credentials to install when the file exists (an optional Secret)"},
		&cli.StringFlag{Name: "source-logd-tokens", Value: "/etc/brisk-logd-tokens/tokens", Usage: "brisk-logd's tokens to install when the file exists (an optional Secret)"},
		&cli.StringFlag{Name: "logs-node-name", EnvVars: []string{"NODE_NAME"}, Usage: "[logs.api] node_name written into the installed config unless it sets one (empty: brisk-logd uses the hostname)"},
		&cli.StringFlag{Name: "logs-peers-dns", EnvVars: []string{"BRISK_LOGS_PEERS_DNS"}, Usage: "[logs.api] peers_dns written into the installed config unless it sets one: the headless Service in front of the DaemonSet"},
		&cli.StringFlag{Name: "service-manager", Value: "systemd", Usage: `"systemd" (over /run/systemd/private) or "requests" (files in --request-dir, answered by someone else)`},
		&cli.StringFlag{Name: "request-dir", Usage: "directory for --service-manager requests (inside this container)"},
		&cli.StringFlag{Name: "node-name", EnvVars: []string{"NODE_NAME"}, Usage: "node to label " + installer.InstalledLabel + "=true once installed (in a pod; empty: no label)"},
		&cli.BoolFlag{Name: "wait", Usage: "after success stay running until SIGTERM (a DaemonSet's container); uninstall retries while refused"},
		&cli.DurationFlag{Name: "retry-interval", Value: 30 * time.Second, Usage: "with --wait, how often a refused uninstall is retried"},
		&cli.DurationFlag{Name: "resync-interval", Value: time.Minute, Usage: "with install --wait, how often the host is brought back in line with the sources (a changed ConfigMap); 0: never"},
	}
	app := &cli.App{
		Name:  "brisk-installer",
		Usage: "install Brisk on this node (binaries, /etc/brisk, brisk-snapshotter and brisk-logd units, containerd drop-in), or remove it",
		Commands: []*cli.Command{
			{Name: "install", Usage: "install or update Brisk; changes nothing when it is up to date", Flags: flags, Action: func(c *cli.Context) error {
				return run(c, func(ctx context.Context, in *installer.Installer, label *installer.NodeLabel) (installer.Result, error) {
					res, err := in.Install(ctx)
					if err == nil && label != nil {
						err = label.Set(ctx)
					}
					return res, err
				})
			}},
			{Name: "uninstall", Usage: "remove Brisk; refused while containers use it", Flags: flags, Action: func(c *cli.Context) error {
				return run(c, func(ctx context.Context, in *installer.Installer, label *installer.NodeLabel) (installer.Result, error) {
					// Unlabelled first: no new brisk pod lands here
					// while the running ones finish.
					if label != nil {
						if err := label.Remove(ctx); err != nil {
							return installer.Result{}, err
						}
					}
					return in.Uninstall(ctx)
				})
			}},
		},
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "brisk-installer:", err)
		os.Exit(1)
	}
}

func run(c *cli.Context, op func(context.Context, *installer.Installer, *installer.NodeLabel) (installer.Result, error)) error {
	ctx, stop := signal.NotifyContext(c.Context, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	in, closeServices, err := newInstaller(ctx, c)
	if err != nil {
		return err
	}
	defer closeServices()
	var label *installer.NodeLabel
	if node := c.String("node-name"); node != "" {
		if label, err = installer.InClusterNodeLabel(node); err != nil {
			return err
		}
	}
	for {
		res, err := op(ctx, in, label)
		if err == nil {
			log.G(ctx).WithField("changed", res.Changed).WithField("actions", res.Actions).Infof("%s: done", c.Command.Name)
			fmt.Printf("%s: done; changed: %s; actions: %s\n", c.Command.Name, list(res.Changed), list(res.Actions))
			for _, k := range res.Kept {
				fmt.Printf("%s: kept %s\n", c.Command.Name, k)
			}
			break
		}
		if !c.Bool("wait") || !errdefs.IsFailedPrecondition(err) {
			return err
		}
		log.G(ctx).WithError(err).Warnf("%s refused; retrying in %s", c.Command.Name, c.Duration("retry-interval"))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(c.Duration("retry-interval")):
		}
	}
	if !c.Bool("wait") {
		return nil
	}
	// The pod's life is not Brisk's: ending it (an update, a restart)
	// leaves the host as installed and the containers running. Meanwhile an
	// install is redone now and then: the kubelet updates a mounted
	// ConfigMap in place, and an install that finds nothing changed does
	// nothing.
	var resync <-chan time.Time
	if c.Command.Name == "install" && c.Duration("resync-interval") > 0 {
		t := time.NewTicker(c.Duration("resync-interval"))
		defer t.Stop()
		resync = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-resync:
			res, err := op(ctx, in, label)
			if err != nil {
				log.G(ctx).WithError(err).Error("resync")
			} else if len(res.Changed) > 0 {
				fmt.Printf("%s: resynced; changed: %s; actions: %s\n", c.Command.Name, list(res.Changed), list(res.Actions))
			}
		}
	}
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func newInstaller(ctx context.Context, c *cli.Context) (*installer.Installer, func(), error) {
	l := installer.Layout{
		HostRoot:         c.String("host-root"),
		BinDir:           c.String("bin-dir"),
		ConfigPath:       c.String("config"),
		S3EnvPath:        c.String("s3-env"),
		LogdTokensPath:   c.String("logd-tokens"),
		ContainerdConfig: c.String("containerd-config"),
		DropinDir:        c.String("containerd-dropin-dir"),
		SystemdDir:       c.String("systemd-dir"),
		StateDir:         c.String("state-dir"),
	}
	for name, p := range map[string]string{"bin-dir": l.BinDir, "config": l.ConfigPath, "s3-env": l.S3EnvPath, "logd-tokens": l.LogdTokensPath,
		"containerd-config": l.ContainerdConfig, "containerd-dropin-dir": l.DropinDir, "systemd-dir": l.SystemdDir, "state-dir": l.StateDir} {
		if !filepath.IsAbs(p) {
			return nil, nil, fmt.Errorf("--%s %q: want an absolute host path: %w", name, p, errdefs.ErrInvalidArgument)
		}
	}
	in := &installer.Installer{
		Layout: l,
		Sources: installer.Sources{
			BinDir:     c.String("source-bin-dir"),
			Config:     c.String("source-config"),
			S3Env:      c.String("source-s3-env"),
			LogdTokens: c.String("source-logd-tokens"),
		},
		NodeKeys: installer.NodeKeys{
			NodeName: c.String("logs-node-name"),
			PeersDNS: c.String("logs-peers-dns"),
		},
		Users:            installer.ContainerdUsers(filepath.Join(l.HostRoot, c.String("containerd-address"))),
		PendingLogs:      spool.Pending,
		QuarantinedLogs:  spool.QuarantinedDirs,
		NewConfigVersion: c.Int64("new-containerd-config-version"),
	}
	switch m := c.String("service-manager"); m {
	case "systemd":
		sd, err := installer.NewSystemd(ctx)
		if err != nil {
			return nil, nil, err
		}
		in.Services = sd
		return in, sd.Close, nil
	case "requests":
		if c.String("request-dir") == "" {
			return nil, nil, errors.New("--service-manager requests needs --request-dir")
		}
		in.Services = installer.RequestFiles{Dir: c.String("request-dir")}
		return in, func() {}, nil
	default:
		return nil, nil, fmt.Errorf("--service-manager %q: want systemd or requests: %w", m, errdefs.ErrInvalidArgument)
	}
}
