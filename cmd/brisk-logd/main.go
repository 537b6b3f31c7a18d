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
	"github.com/brisk-containers/brisk/logs/store"
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
	reg := prometheus.NewRegistry()
	// Every S3 request this daemon sends is counted: they are the bill
	// (briskctl doctor shows it per task).
	requests := store.NewRequestCounter()
	reg.MustRegister(requests)
	var opts []ship.Opt
	if cfg.Logs.S3.Bucket != "" {
		opts = append(opts, ship.WithStore(store.NewS3(cfg.Logs.S3, store.WithRequests(requests))))
	}
	shipper, err := ship.New(ctx, cfg.Logs, opts...)
	if err != nil {
		return err
	}
	testOpts, err := testHooks()
	if err != nil {
		return err
	}
	shipping, err := logd.NewShipping(cfg.Logs, shipper, logd.NodeName(cfg.Logs.API), reg, testOpts...)
	if err != nil {
		return err
	}
	srv, err := logd.New(ctx, cfg.Logs, shipper, logd.WithPage(page()), logd.WithShipping(shipping),
		logd.WithRequests(requests), logd.WithMetrics(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if err != nil {
		return err
	}
	// Shipping that cannot run (a store without conditional writes under
	// batch mode) stops the daemon, loudly: logs would pile up in the
	// spool while it looked healthy.
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		if err := shipping.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
			cancel(err)
		}
	}()
	err = srv.Serve(ctx)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
