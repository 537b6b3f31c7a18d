package taskstats

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/typeurl/v2"
)

// staticStats answers Stats as runc's task service does: the cgroup
// metrics marshalled into an Any.
type staticStats struct {
	metrics any
	err     error
}

func (s staticStats) Stats(_ context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	if s.err != nil {
		return nil, s.err
	}
	a, err := typeurl.MarshalAny(s.metrics)
	if err != nil {
		return nil, err
	}
	return &taskAPI.StatsResponse{Stats: typeurl.MarshalProto(a)}, nil
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		stat    func(*testing.T, string) any
	}{{"v1-dd", statV1}, {"v2-unified", statV2}} {
		t.Run(tc.fixture, func(t *testing.T) {
			m := tc.stat(t, filepath.Join("testdata", tc.fixture))
			want, _ := FromMetrics(m)
			got, err := Read(context.Background(), staticStats{metrics: m}, "task")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("through Stats\n got %s\nwant %s", dump(got), dump(want))
			}
		})
	}
	gone := errors.New("cgroup does not exist")
	if _, err := Read(context.Background(), staticStats{err: gone}, "task-x"); !errors.Is(err, gone) {
		t.Errorf("Stats failure: %v", err)
	}
}

func dump(s Summary) string {
	b, _ := json.Marshal(s)
	return string(b)
}
