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
	ev := &eventstypes.ContainerUpdate{
		ID: c.id,
		Labels: map[string]string{
			"brisk.io/upperdir":     u.Upperdir,
			"brisk.io/exclusive":    strconv.FormatBool(u.Exclusive),
			"brisk.io/inodes_used":  strconv.FormatInt(u.InodesUsed, 10),
			"brisk.io/inodes_limit": strconv.FormatInt(u.InodesLimit, 10),
			"brisk.io/bytes_used":   strconv.FormatInt(u.BytesUsed, 10),
			"brisk.io/bytes_limit":  strconv.FormatInt(u.BytesLimit, 10),
		},
	}
	log.G(ctx).WithFields(log.Fields{"id": c.id, "inodes_used": u.InodesUsed, "inodes_limit": u.InodesLimit,
		"bytes_used": u.BytesUsed, "bytes_limit": u.BytesLimit}).Info("writable layer usage at exit")
	if err := s.publisher.Publish(ctx, UsageTopic, ev); err != nil {
		log.G(ctx).WithError(err).Warn("publish usage event")
	}
}
