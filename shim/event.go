package shim

import (
	"context"
	"strconv"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/shim/taskstats"
)

// publishUsage sends what the task used on /brisk/task/usage: its writable
// layer (nil when not measured) and its cgroup summary (nil when not read).
// The figures ride as labels of containerd's own ContainerUpdate event type:
// every containerd client can decode it, so `ctr events` shows them without
// knowing Brisk (a type of our own would be dropped as unknown).
func (s *Service) publishUsage(ctx context.Context, c *capture, u *usage.Layer, st *taskstats.Summary) {
	labels := st.Labels()
	if u != nil {
		if labels == nil {
			labels = map[string]string{}
		}
		labels["brisk.io/upperdir"] = u.Upperdir
		labels["brisk.io/exclusive"] = strconv.FormatBool(u.Exclusive)
		fields := log.Fields{"id": c.id}
		for _, f := range u.Fields() {
			labels["brisk.io/"+f.Name] = strconv.FormatInt(f.Value, 10)
			fields[f.Name] = f.Value
		}
		log.G(ctx).WithFields(fields).Info("writable layer usage at exit")
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
