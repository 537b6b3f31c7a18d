package top

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

func ids(rows []Row) string {
	var s []string
	for _, r := range rows {
		s = append(s, r.ID)
	}
	return strings.Join(s, ",")
}

func TestSort(t *testing.T) {
	rows := []Row{
		{Namespace: "k8s.io", ID: "b", Runtime: "io.containerd.runc.v2", Upper: "dir", WriteBps: 10, Spool: -1, Inodes: 5, InodesLimit: 10},
		{Namespace: "default", ID: "c", Runtime: "io.containerd.brisk.v2", Upper: "tmpfs", WriteBps: 500, Spool: 4096},
		{Namespace: "default", ID: "a", Runtime: "io.containerd.brisk.v2", Upper: "tmpfs", WriteBps: 10, ReadBps: 7, Spool: 10, Inodes: 9, InodesLimit: 10},
	}
	for _, tc := range []struct{ key, want string }{
		{"write", "c,a,b"}, // ties by namespace then ID
		{"read", "a,c,b"},
		{"id", "a,b,c"},
		{"namespace", "a,c,b"},
		{"spool", "c,a,b"},
		{"inodes", "a,b,c"}, // no limit sorts last
		{"runtime", "a,c,b"},
	} {
		if err := Sort(rows, tc.key); err != nil {
			t.Fatal(err)
		}
		if got := ids(rows); got != tc.want {
			t.Errorf("--sort %s: %s, want %s", tc.key, got, tc.want)
		}
	}
	if err := Sort(rows, "speed"); !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "write") {
		t.Errorf("unknown column: %v", err)
	}
}

func TestWrite(t *testing.T) {
	f := Frame{Time: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), Window: 2, TmpfsBudget: 1 << 30, TmpfsBudgetUsed: 64 << 20,
		Rows: []Row{{Namespace: "default", ID: "w", Runtime: "io.containerd.brisk.v2", Upper: "tmpfs", Inodes: 50, InodesLimit: 200, WriteBps: 1 << 20, WriteOps: 16, Spool: 0}}}
	var b bytes.Buffer
	if err := Write(&b, f, 0); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{"12:00:00 over 2.0s", "tmpfs budget 64MiB of 1GiB", "NAMESPACE", "brisk.v2", "25.0", "1MiB", "16"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Error("plain output holds escape codes")
	}
}

// Every column --sort accepts orders by that column: numbers largest first,
// text A to Z.
func TestSortByEveryColumn(t *testing.T) {
	rows := []Row{
		{Namespace: "k8s.io", ID: "b", Runtime: "io.containerd.runc.v2", Upper: "dir", Inodes: 5, InodesLimit: 10, Bytes: 1, BytesLimit: 10, WriteBps: 10, WriteOps: 3, ReadBps: 1, DiskWriteBps: 9, DiskReadBps: 2, Spool: -1},
		{Namespace: "default", ID: "c", Runtime: "io.containerd.brisk.v2", Upper: "tmpfs", Inodes: 1, InodesLimit: 10, Bytes: 9, BytesLimit: 10, WriteBps: 500, WriteOps: 1, ReadBps: 3, DiskWriteBps: 0, DiskReadBps: 7, Spool: 4096},
		{Namespace: "default", ID: "a", Runtime: "io.containerd.brisk.v2", Upper: "", WriteBps: 20, WriteOps: 8, ReadBps: 7, DiskWriteBps: 4, DiskReadBps: 0, Spool: 10},
	}
	if len(SortKeys()) != len(columns) || len(columns) != 12 {
		t.Fatalf("sort keys %v for %d columns", SortKeys(), len(columns))
	}
	for _, c := range columns {
		if err := Sort(rows, c.key); err != nil {
			t.Fatalf("--sort %s: %v", c.key, err)
		}
		for i := 1; i < len(rows); i++ {
			if c.num != nil && c.num(rows[i-1]) < c.num(rows[i]) || c.num == nil && c.text(rows[i-1]) > c.text(rows[i]) {
				t.Errorf("--sort %s: %s out of order", c.key, ids(rows))
			}
		}
	}
}
