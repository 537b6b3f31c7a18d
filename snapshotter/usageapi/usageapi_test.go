package usageapi

import (
	"encoding/json"
	"testing"

	"github.com/brisk-containers/brisk/internal/usage"
)

// TestSnapshotUsageJSON: the report keeps every name it had ("bytes",
// "inodes" among them) beside those of usage.Usage, and reads back whole.
func TestSnapshotUsageJSON(t *testing.T) {
	in := SnapshotUsage{Key: "default/3/c", Namespace: "default", Name: "c", Profile: "default", ID: "7", Upper: "tmpfs", Path: "/p",
		Usage: usage.Usage{InodesUsed: 1, InodesLimit: 2, BytesUsed: 3, BytesLimit: 4}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]any{
		"key": "default/3/c", "namespace": "default", "name": "c", "profile": "default", "id": "7", "upper": "tmpfs", "path": "/p",
		"inodes": 1.0, "inodes_used": 1.0, "inodes_limit": 2.0, "bytes": 3.0, "bytes_used": 3.0, "bytes_limit": 4.0,
	} {
		if fields[name] != want {
			t.Errorf("%s = %v, want %v in %s", name, fields[name], want, data)
		}
	}
	var out SnapshotUsage
	if err := json.Unmarshal(data, &out); err != nil || out != in {
		t.Errorf("read back %+v, %v; want %+v", out, err, in)
	}
}
