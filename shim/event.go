package shim

import (
	"context"
	"strconv"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/shim/usage"
)

// publishUsage sends the task's writable-layer usage on /brisk/task/usage.
// The figures ride as labels of containerd's own ContainerUpdate event type:
// every containerd client can decode it, so `ctr events` shows them without
// knowing Brisk (a type of our own would be dropped as unknown).
func (s *Service) publishUsage(ctx context.Context, c *capture, u usage.Usage) {
	labels := map[string]string{
		"brisk.io/upperdir":  u.Upperdir,
		"brisk.io/exclusive": strconv.FormatBool(u.Exclusive),
	}
	fields := log.Fields{"id": c.id}
	for _, f := range u.Fields() {
		labels["brisk.io/"+f.Name] = strconv.FormatInt(f.Value, 10)
		fields[f.Name] = f.Value
	}
	log.G(ctx).WithFields(fields).Info("writable layer usage at exit")
	if err := s.publisher.Publish(ctx, UsageTopic, &eventstypes.ContainerUpdate{ID: c.id, Labels: labels}); err != nil {
		log.G(ctx).WithError(err).Warn("publish usage event")
	}
}
