package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

func TestPrintUsageProfile(t *testing.T) {
	var b bytes.Buffer
	printUsage(&b, usageapi.UsageReport{
		Budget: 1 << 30,
		Snapshots: []usageapi.SnapshotUsage{
			{Key: "k8s.io/7/ctr", Namespace: "k8s.io", Name: "ctr", Profile: "brisk-small", Upper: "tmpfs", Usage: usage.Usage{BytesUsed: 1 << 20, BytesLimit: 32 << 20, InodesUsed: 10, InodesLimit: 1000}},
			{Key: "k8s.io/7/ctr", Namespace: "k8s.io", Name: "ctr", Profile: "default", Upper: "tmpfs", Usage: usage.Usage{BytesUsed: 1 << 20, BytesLimit: 64 << 20, InodesUsed: 10, InodesLimit: 1000}},
			{Key: "default/3/old", Namespace: "default", Name: "old", Upper: "tmpfs"},
		},
	})
	lines := strings.Split(b.String(), "\n")
	want := [][]string{
		{"NAMESPACE", "KEY", "PROFILE", "UPPER"},
		{"default", "old", "-", "tmpfs"},
		{"k8s.io", "ctr", "brisk-small", "tmpfs"},
		{"k8s.io", "ctr", "default", "tmpfs"},
	}
	for i, w := range want {
		if got := strings.Fields(lines[i]); len(got) < len(w) || !slices.Equal(got[:len(w)], w) {
			t.Errorf("line %d: %q, want it to start with %q\n%s", i, lines[i], w, b.String())
		}
	}
}
