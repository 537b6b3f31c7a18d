package installer

import (
	"fmt"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// resolve is the host path that host path p names once every symlink in it
// is followed as the host follows it. An absolute target is taken inside
// HostRoot: in the DaemonSet a link to /etc/x means the host's /etc/x, which
// the installer reaches as /host/etc/x, never its own container's /etc/x.
// ".." stops at HostRoot as it stops at the host's /, so no link leads out
// of the host's tree. A loop ends with ELOOP after as many links as the
// kernel follows.
func (l Layout) resolve(p string) (string, error) {
	root := filepath.Clean(l.HostRoot)
	full, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return "", fmt.Errorf("follow the links of %s inside the host root %s: %w", p, root, err)
	}
	rel, err := filepath.Rel(root, full)
	if err != nil {
		return "", fmt.Errorf("follow the links of %s inside the host root %s: %w", p, root, err)
	}
	return filepath.Join("/", rel), nil
}
