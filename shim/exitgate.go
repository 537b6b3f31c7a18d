package shim

import (
	"context"

	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/shim"
)

// A client treats a task's exit as the end of its output: containerd's
// client closes its FIFOs (io.Cancel) as soon as it deletes the task. The
// runc shim writes straight into those FIFOs; Brisk's copy passes through the
// spool first, so the exit is shown to the client — the Wait answer and the
// TaskExit event — only once the consumer has been handed everything, or
// exitViewWait has passed for a consumer that does not read (step 4 in
// lifecycle.go).

// gateExit waits until container id's exit may be shown.
func (s *Service) gateExit(id string) {
	s.mu.Lock()
	c := s.tasks[id]
	s.mu.Unlock()
	if c == nil {
		return
	}
	c.exit.waitShown(s.ctx)
}

// Wait answers once the init process has exited and its output was delivered.
func (s *Service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	resp, err := s.TTRPCTaskService.Wait(ctx, r)
	if err == nil && r.ExecID == "" {
		s.gateExit(r.ID)
	}
	return resp, err
}

// exitGate is the publisher handed to the runc task service: it holds a
// container's TaskExit event back like Wait.
type exitGate struct {
	shim.Publisher
	s *Service
}

var _ events.Publisher = (*exitGate)(nil)

func (g *exitGate) Publish(ctx context.Context, topic string, event events.Event) error {
	if e, ok := event.(*eventstypes.TaskExit); ok && e.ID == e.ContainerID {
		g.s.gateExit(e.ContainerID)
	}
	return g.Publisher.Publish(ctx, topic, event)
}
