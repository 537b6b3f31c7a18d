// Command brisk-logd is Brisk's node log daemon: the node's log retrier,
// shipping what the spool holds after its shims gave up or died, and the
// node log API, by which any task's log is read by its ID, live or after
// it exited, from this node or through it from any other.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/containerd/log"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brisk-containers/brisk/internal/daemonflag"
	"github.com/brisk-containers/brisk/logd"
	"github.com/brisk-containers/brisk/logs/ship"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "brisk-logd: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	common := daemonflag.Define(flag.CommandLine)
	flag.Parse()
	cfg, err := common.Load()
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		log.L.Warn(w)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	shipper, err := ship.New(ctx, cfg.Logs)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	shipping := logd.NewShipping(cfg.Logs, shipper, reg)
	srv, err := logd.New(ctx, cfg.Logs, shipper, logd.WithPage(page()), logd.WithShipping(shipping),
		logd.WithMetrics(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if err != nil {
		return err
	}
	go func() { _ = shipping.Serve(ctx) }()
	err = srv.Serve(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
