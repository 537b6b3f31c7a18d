package spool

import (
	"reflect"
	"testing"
	"time"
)

// The task's cgroup summary survives in meta.json for the retrier, which
// ships from it after the shim is gone.
func TestFinishKeepsTaskStats(t *testing.T) {
	root := t.TempDir()
	e, err := Open(root, Meta{Namespace: "ns", ID: "id"})
	if err != nil {
		t.Fatal(err)
	}
	stats := map[string]string{"cgroup": "v1", "cpu-ns": "758030204", "memory-peak-bytes": "35389440"}
	if _, err := e.Finish(ExitInfo{Exited: time.Now(), Stats: stats}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	m, err := ReadMeta(e.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.Stats, stats) {
		t.Errorf("stats read back %v, want %v", m.Stats, stats)
	}
}
