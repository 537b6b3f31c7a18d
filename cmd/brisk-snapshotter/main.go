// Command brisk-snapshotter is Brisk's proxy snapshotter for containerd: it
// serves containerd's snapshot gRPC API on a unix socket and puts the upper
// directory of every container's rootfs on fast storage of its own.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/brisk-containers/brisk/config"
	"github.com/containerd/log"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "brisk-snapshotter: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		configPath = flag.String("config", config.DefaultPath, "configuration file")
		address    = flag.String("address", "", "unix socket to serve on (overrides snapshotter.address)")
		root       = flag.String("root", "", "state directory (overrides snapshotter.root)")
		logLevel   = flag.String("log-level", "info", "log level: trace, debug, info, warn, error")
	)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	if err := log.SetLevel(*logLevel); err != nil {
		return fmt.Errorf("--log-level %q: %w", *logLevel, err)
	}
	if err := log.SetFormat(log.TextFormat); err != nil {
		return err
	}

	// The default path may be absent (a node running on defaults); a path
	// the operator named must exist.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config" })
	cfg, err := config.Load(*configPath, !explicit)
	if err != nil {
		return err
	}
	if *address != "" {
		cfg.Snapshotter.Address = *address
	}
	if *root != "" {
		cfg.Snapshotter.Root = *root
	}
	if err := cfg.Snapshotter.Validate(); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = serve(ctx, cfg.Snapshotter, cfg.Logs.SpoolDir)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
