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

	"github.com/brisk-containers/brisk/internal/daemonflag"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "brisk-snapshotter: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		common  = daemonflag.Define(flag.CommandLine)
		address = flag.String("address", "", "unix socket to serve on (overrides snapshotter.address)")
		root    = flag.String("root", "", "state directory (overrides snapshotter.root)")
	)
	flag.Parse()
	cfg, err := common.Load()
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
