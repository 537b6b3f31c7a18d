package taskstats

import (
	"context"
	"fmt"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/typeurl/v2"
)

// Stater is the part of runc's task service that reads a task's cgroup.
type Stater interface {
	Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error)
}

// Read summarises task id's cgroup. Call it after the task exited and
// before its Delete: runc removes the cgroup then.
func Read(ctx context.Context, s Stater, id string) (Summary, error) {
	resp, err := s.Stats(ctx, &taskAPI.StatsRequest{ID: id})
	if err != nil {
		return Summary{}, fmt.Errorf("cgroup stats of task %s: %w", id, err)
	}
	m, err := typeurl.UnmarshalAny(resp.GetStats())
	if err != nil {
		return Summary{}, fmt.Errorf("decode cgroup stats of task %s: %w", id, err)
	}
	sum, err := FromMetrics(m)
	if err != nil {
		return Summary{}, fmt.Errorf("task %s: %w", id, err)
	}
	return sum, nil
}
