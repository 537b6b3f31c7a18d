package metrics

import (
	"context"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/prometheus/client_golang/prometheus"
)

// Instrumented times every operation of a snapshotter into
// brisk_snapshotter_operation_seconds{operation,profile}.
type Instrumented struct {
	sn      snapshots.Snapshotter
	latency *prometheus.HistogramVec
}

var (
	_ snapshots.Snapshotter = (*Instrumented)(nil)
	_ snapshots.Cleaner     = (*Instrumented)(nil)
)

// Instrument wraps sn and registers its histogram with reg.
func Instrument(sn snapshots.Snapshotter, reg prometheus.Registerer) (*Instrumented, error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "brisk_snapshotter_operation_seconds",
		Help: "Latency of snapshotter operations.",
		// Prepare on tmpfs takes tens of microseconds; Commit of a big
		// layer takes seconds.
		Buckets: prometheus.ExponentialBuckets(25e-6, 4, 10),
	}, []string{"operation", "profile"})
	if err := reg.Register(h); err != nil {
		return nil, err
	}
	return &Instrumented{sn: sn, latency: h}, nil
}

func (i *Instrumented) observe(ctx context.Context, op string, start time.Time) {
	profile := snapshotter.ProfileFrom(ctx)
	if profile == "" {
		profile = config.DefaultProfileName
	}
	i.latency.WithLabelValues(op, profile).Observe(time.Since(start).Seconds())
}

func (i *Instrumented) Stat(ctx context.Context, key string) (snapshots.Info, error) {
	defer i.observe(ctx, "stat", time.Now())
	return i.sn.Stat(ctx, key)
}

func (i *Instrumented) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (snapshots.Info, error) {
	defer i.observe(ctx, "update", time.Now())
	return i.sn.Update(ctx, info, fieldpaths...)
}

func (i *Instrumented) Usage(ctx context.Context, key string) (snapshots.Usage, error) {
	defer i.observe(ctx, "usage", time.Now())
	return i.sn.Usage(ctx, key)
}

func (i *Instrumented) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	defer i.observe(ctx, "mounts", time.Now())
	return i.sn.Mounts(ctx, key)
}

func (i *Instrumented) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	defer i.observe(ctx, "prepare", time.Now())
	return i.sn.Prepare(ctx, key, parent, opts...)
}

func (i *Instrumented) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	defer i.observe(ctx, "view", time.Now())
	return i.sn.View(ctx, key, parent, opts...)
}

func (i *Instrumented) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) error {
	defer i.observe(ctx, "commit", time.Now())
	return i.sn.Commit(ctx, name, key, opts...)
}

func (i *Instrumented) Remove(ctx context.Context, key string) error {
	defer i.observe(ctx, "remove", time.Now())
	return i.sn.Remove(ctx, key)
}

func (i *Instrumented) Walk(ctx context.Context, fn snapshots.WalkFunc, filters ...string) error {
	defer i.observe(ctx, "walk", time.Now())
	return i.sn.Walk(ctx, fn, filters...)
}

func (i *Instrumented) Cleanup(ctx context.Context) error {
	defer i.observe(ctx, "cleanup", time.Now())
	if c, ok := i.sn.(snapshots.Cleaner); ok {
		return c.Cleanup(ctx)
	}
	return nil
}

func (i *Instrumented) Close() error { return i.sn.Close() }
