package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/internal/testutil"
)

// TestBatchReadExample runs docs/batch-format.md's worked example
// (hack/batch-read-example.sh): a batch that a real brisk-logd stored in
// MinIO, read with curl, tail, dd and gunzip alone, byte for byte what
// brisk-logd serves. Should the format drift from its documentation, this
// fails.
func TestBatchReadExample(t *testing.T) {
	env := harness.New(t)
	env.Require(filepath.Join(env.BriskBin, "brisk-logd"))
	env.Require(filepath.Join(env.ToolsBin, "minio"))
	for _, tool := range []string{"curl", "jq", "basenc", "go"} {
		_, err := exec.LookPath(tool)
		testutil.Require(t, err == nil, tool+" is missing: run `make tools`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../hack/batch-read-example.sh")
	cmd.Env = append(os.Environ(), "PATH="+env.PATH(), "BRISK_BIN_DIR="+env.BriskBin, "TMPDIR="+env.Dir)
	// Its own process group: MinIO and brisk-logd go with it, whatever
	// way it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "batch-read-example: OK") {
		t.Fatalf("hack/batch-read-example.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
