package shim

import (
	"context"
	"maps"
	"strconv"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/shim/taskstats"
	"github.com/brisk-containers/brisk/shim/usage"
)

// publishUsage sends what the task used on /brisk/task/usage: its writable
// layer (nil when not measured) and its cgroup summary (nil when not read).
// The figures ride as labels of containerd's own ContainerUpdate event type:
// every containerd client can decode it, so `ctr events` shows them without
// knowing Brisk (a type of our own would be dropped as unknown).
func (s *Service) publishUsage(ctx context.Context, c *capture, u *usage.Usage, st *taskstats.Summary) {
	labels := st.Labels()
	if u != nil {
		labels = map[string]string{
			"brisk.io/upperdir":     u.Upperdir,
			"brisk.io/exclusive":    strconv.FormatBool(u.Exclusive),
			"brisk.io/inodes_used":  strconv.FormatInt(u.InodesUsed, 10),
			"brisk.io/inodes_limit": strconv.FormatInt(u.InodesLimit, 10),
			"brisk.io/bytes_used":   strconv.FormatInt(u.BytesUsed, 10),
			"brisk.io/bytes_limit":  strconv.FormatInt(u.BytesLimit, 10),
		}
		maps.Copy(labels, st.Labels())
		log.G(ctx).WithFields(log.Fields{"id": c.id, "inodes_used": u.InodesUsed, "inodes_limit": u.InodesLimit,
			"bytes_used": u.BytesUsed, "bytes_limit": u.BytesLimit}).Info("writable layer usage at exit")
	}
	if len(labels) == 0 {
		return
	}
	ev := &eventstypes.ContainerUpdate{ID: c.id, Labels: labels}
	if err := s.publisher.Publish(ctx, UsageTopic, ev); err != nil {
		log.G(ctx).WithError(err).Warn("publish usage event")
	}
}

// readStats summarises the task's cgroup. It must run after the exit and
// before runc's Delete removes the cgroup; nil when it could not be read.
func (s *Service) readStats(ctx context.Context, c *capture) *taskstats.Summary {
	st, err := taskstats.Read(ctx, s.TTRPCTaskService, c.id)
	if err != nil {
		log.G(ctx).WithError(err).WithField("id", c.id).Warn("read the task's cgroup statistics")
		return nil
	}
	log.G(ctx).WithFields(log.Fields{"id": c.id, "stats": st.Metadata()}).Info("task resource summary at exit")
	return &st
}
