package shim

import (
	"context"
	"os"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/shim/taskstats"
)

// captureSteps are the exit's steps (see lifecycle.go) for a task whose
// output c captured, done with the Service's runc task service, publisher
// and hand-off client.
type captureSteps struct {
	s *Service
	c *capture
}

var _ exitSteps = captureSteps{}

// waitExit asks runc's task service itself, not the Service's Wait, which
// is held until the exit is shown.
func (x captureSteps) waitExit(ctx context.Context) (*taskAPI.WaitResponse, error) {
	return x.s.TTRPCTaskService.Wait(ctx, &taskAPI.WaitRequest{ID: x.c.id})
}

func (x captureSteps) releaseOutput() { x.c.release() }

func (x captureSteps) readStats(ctx context.Context) *taskstats.Summary {
	return x.s.readStats(ctx, x.c)
}

func (x captureSteps) drain(timeout time.Duration) { x.c.drain(timeout) }

func (x captureSteps) flushConsumers(ctx context.Context, timeout time.Duration) {
	if dropped := x.c.closeConsumers(ctx, timeout); dropped > 0 {
		log.G(ctx).WithFields(log.Fields{"id": x.c.id, "dropped": dropped}).Warn("consumer did not read all output; the shipped log is complete")
	}
}

func (x captureSteps) measure(ctx context.Context) *usage.Layer {
	if x.c.upperdir == "" {
		return nil
	}
	u, err := usage.Measure(ctx, x.c.upperdir)
	if err != nil {
		log.G(ctx).WithError(err).WithField("id", x.c.id).Warn("measure writable layer")
		return nil
	}
	return &u
}

func (x captureSteps) publishUsage(ctx context.Context, layer *usage.Layer, stats *taskstats.Summary) {
	x.s.publishUsage(ctx, x.c, layer, stats)
}

// finish marks the entry done; its FIFOs, drained, go.
func (x captureSteps) finish(ctx context.Context, info spool.ExitInfo) error {
	meta, err := x.c.entry.Finish(info)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(x.c.dir)
	log.G(ctx).WithFields(log.Fields{"id": x.c.id, "exit": info.Code, "stdout": meta.StdoutBytes, "stderr": meta.StderrBytes,
		"truncated": meta.Truncated, "usage": info.Usage}).Info("task log captured")
	return nil
}

// handOver tells brisk-logd that the entry is its to ship.
func (x captureSteps) handOver(ctx context.Context) error {
	if err := x.s.handoff.Notify(ctx, x.c.entry.Dir()); err != nil {
		return err
	}
	log.G(ctx).WithField("id", x.c.id).Debug("task log handed over to brisk-logd")
	return nil
}

func (x captureSteps) releaseEntry() { x.c.entry.Release() }
