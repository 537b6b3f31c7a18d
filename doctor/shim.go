package doctor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/brisk-containers/brisk/internal/version"
)

// ShimBinary is what containerd looks for to run RuntimeType.
const ShimBinary = "containerd-shim-brisk-v2"

var shimCheck = Check{
	Name: "shim/version",
	Hint: ShimBinary + " -v did not return: the binary may be broken; reinstall it",
	Run: func(ctx context.Context, n *Node) []Result {
		dirs, where := shimSearchPath(ctx, n)
		path := ""
		for _, d := range dirs {
			p := filepath.Join(d, ShimBinary)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				path = p
				break
			}
		}
		if path == "" {
			return one(Fail, fmt.Sprintf("%s is not on %s (%s): containers on %s fail to start", ShimBinary, where, strings.Join(dirs, ":"), RuntimeType),
				"make install puts it in /usr/local/bin; or add its directory to containerd's PATH")
		}
		v, err := shimVersion(ctx, path)
		if err != nil {
			return one(Fail, fmt.Sprintf("%s: %v", path, err), "reinstall the shim from the same build as briskctl (make install)")
		}
		if v != version.Version {
			return one(Warn, fmt.Sprintf("%s is version %s, briskctl is %s", path, v, version.Version),
				"install the shim and briskctl from the same build (make install): both read and write the spool")
		}
		return pass("%s on %s, version %s (same as briskctl)", path, where, v)
	},
}

// shimSearchPath is where containerd looks for a shim: its own PATH, then
// the directory of its executable.
func shimSearchPath(ctx context.Context, n *Node) ([]string, string) {
	srv, err := n.Server(ctx)
	if err != nil || srv.Env == nil {
		return filepath.SplitList(os.Getenv("PATH")), "briskctl's PATH (containerd's is unreadable)"
	}
	dirs := filepath.SplitList(srv.Env["PATH"])
	if srv.Exe != "" {
		dirs = append(dirs, filepath.Dir(srv.Exe))
	}
	return dirs, fmt.Sprintf("containerd's PATH (pid %d)", srv.Pid)
}

// shimVersion runs "SHIM -v", which containerd's shim library answers with
// a "Version:" line.
func shimVersion(ctx context.Context, path string) (string, error) {
	out, err := exec.CommandContext(ctx, path, "-v").Output()
	if err != nil {
		return "", fmt.Errorf("-v: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Version:"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("-v printed no Version line: %q", out)
}
