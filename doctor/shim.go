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
			if p := filepath.Join(d, ShimBinary); isExecutable(p) {
				path = p
				break
			}
		}
		var res []Result
		if path == "" {
			res = append(res, Result{Status: Fail, Found: fmt.Sprintf("%s is not on %s (%s): containers on %s fail to start", ShimBinary, where, strings.Join(dirs, ":"), RuntimeType),
				Fix: "make install puts it in /usr/local/bin; or add its directory to containerd's PATH"})
		} else {
			res = append(res, shimVersionResult(ctx, path, "on "+where))
		}
		// CRI handlers may name the binary themselves (runtime_path).
		if cri, err := n.CRI(ctx); err == nil {
			for _, h := range briskHandlers(cri) {
				if p := cri.Containerd.Runtimes[h].Path; p != "" && p != path {
					if !isExecutable(p) {
						res = append(res, Result{Status: Fail, Found: fmt.Sprintf("CRI handler %q has runtime_path %s, which is not an executable", h, p), Fix: "install the shim there or correct runtime_path"})
						continue
					}
					res = append(res, shimVersionResult(ctx, p, fmt.Sprintf("runtime_path of CRI handler %q", h)))
				}
			}
		}
		return res
	},
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

func shimVersionResult(ctx context.Context, path, where string) Result {
	v, err := shimVersion(ctx, path)
	if err != nil {
		return Result{Status: Fail, Found: fmt.Sprintf("%s: %v", path, err), Fix: "reinstall the shim from the same build as briskctl (make install)"}
	}
	if v != version.Version {
		return Result{Status: Warn, Found: fmt.Sprintf("%s (%s) is version %s, briskctl is %s", path, where, v, version.Version),
			Fix: "install the shim and briskctl from the same build (make install): both read and write the spool"}
	}
	return Result{Status: Pass, Found: fmt.Sprintf("%s %s, version %s (same as briskctl)", path, where, v)}
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
