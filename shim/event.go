package shim

import (
	"context"

	"github.com/containerd/log"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/brisk-containers/brisk/shim/usage"
)

// publishUsage sends the task's writable-layer usage on /brisk/task/usage. A
// protobuf Struct is used because every containerd client can decode it, so
// `ctr events` shows the figures without knowing Brisk.
func (s *Service) publishUsage(ctx context.Context, c *capture, u usage.Usage) {
	ev, err := structpb.NewStruct(map[string]any{
		"container_id": c.id,
		"upperdir":     u.Upperdir,
		"exclusive":    u.Exclusive,
		"inodes_used":  u.InodesUsed,
		"inodes_limit": u.InodesLimit,
		"bytes_used":   u.BytesUsed,
		"bytes_limit":  u.BytesLimit,
	})
	if err != nil {
		return
	}
	log.G(ctx).WithFields(log.Fields{"id": c.id, "inodes_used": u.InodesUsed, "inodes_limit": u.InodesLimit,
		"bytes_used": u.BytesUsed, "bytes_limit": u.BytesLimit}).Info("writable layer usage at exit")
	if err := s.publisher.Publish(ctx, UsageTopic, ev); err != nil {
		log.G(ctx).WithError(err).Warn("publish usage event")
	}
}
