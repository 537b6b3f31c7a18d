package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/brisk-containers/brisk/integration/harness"
)

// TestSecondSnapshotterRefuses starts a second brisk-snapshotter next to a
// serving one, as a double start by a supervisor or an operator would: on the
// same root with the same config, and on another root with the same socket.
// The second must exit non-zero and say why, and the first must go on
// serving on its socket, the very file it bound.
func TestSecondSnapshotterRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		// config writes the second daemon's config and returns its path.
		config func(e *harness.Env, first *harness.Snapshotter) string
		want   []string // in the second daemon's log
	}{
		{
			name:   "same root",
			config: func(e *harness.Env, first *harness.Snapshotter) string { return first.ConfigPath },
			want:   []string{"another brisk-snapshotter", "is in use"},
		},
		{
			name: "another root, same socket",
			config: func(e *harness.Env, first *harness.Snapshotter) string {
				path := e.Path("second.toml")
				cfg := fmt.Sprintf("[snapshotter]\nroot = %q\naddress = %q\nmetrics_address = \"127.0.0.1:%d\"\nusage_socket = %q\n",
					e.Path("brisk2"), first.Address, harness.FreePort(t), e.Path("usage2.sock"))
				if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
					t.Fatal(err)
				}
				return path
			},
			want: []string{"another process", "serves on it"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := harness.New(t)
			sn := env.StartSnapshotter("")
			client := dialSnapshotter(t, sn)
			ctx := namespaces.WithNamespace(context.Background(), "twice")
			if _, err := client.Prepare(ctx, "before", ""); err != nil {
				t.Fatal(err)
			}
			var before syscall.Stat_t
			if err := syscall.Stat(sn.Address, &before); err != nil {
				t.Fatal(err)
			}

			second := env.Start("brisk-snapshotter-2", nil, filepath.Join(env.BriskBin, "brisk-snapshotter"), "--config", tc.config(env, sn))
			// Old code waited on bolt's lock for as long as the first
			// daemon lived; a minute is ample for a refusal.
			err := second.Wait(time.Minute)
			if err == nil || strings.Contains(err.Error(), "still running") {
				second.Kill()
				t.Fatalf("second brisk-snapshotter: %v, want a non-zero exit\n%s", err, second.LogTail())
			}
			log := second.LogTail()
			for _, w := range tc.want {
				if !strings.Contains(log, w) {
					t.Errorf("second brisk-snapshotter's log does not say %q:\n%s", w, log)
				}
			}

			var after syscall.Stat_t
			if err := syscall.Stat(sn.Address, &after); err != nil {
				t.Fatalf("first daemon's socket gone: %v\n%s", err, log)
			}
			if after.Ino != before.Ino {
				t.Errorf("first daemon's socket %s replaced (inode %d -> %d)", sn.Address, before.Ino, after.Ino)
			}
			if !sn.Proc.Running() {
				t.Fatalf("first brisk-snapshotter exited:\n%s", sn.Proc.LogTail())
			}
			// Through a fresh connection: the socket file must lead to it.
			if _, err := dialSnapshotter(t, sn).Prepare(ctx, "after", ""); err != nil {
				t.Fatalf("first brisk-snapshotter after the second gave up: %v", err)
			}
			if _, err := client.Stat(ctx, "before"); err != nil {
				t.Fatalf("first brisk-snapshotter lost a snapshot: %v", err)
			}
		})
	}
}
