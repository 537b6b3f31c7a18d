package main

import (
	"context"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/retrier"
	"github.com/brisk-containers/brisk/logs/ship"
)

// serveLogRetrier makes this daemon the node's log retrier until ctx ends:
// one pass over the shims' spool per back-off period for the whole node,
// instead of one per shim. It needs the same S3 credentials as the shims.
func serveLogRetrier(ctx context.Context, logs config.Logs) {
	shipper, err := ship.New(ctx, logs)
	if err != nil {
		log.G(ctx).WithError(err).Error("log retrier not started; shims retry instead")
		return
	}
	_ = retrier.New(shipper, logs.SpoolDir).Serve(ctx)
}
