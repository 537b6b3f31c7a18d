package xfsquota

import (
	"bufio"
	"compress/gzip"
	"os"
	"strings"
)

// KernelSupportsXFSQuota reports whether the running kernel was built with
// CONFIG_XFS_QUOTA, read from /proc/config.gz. Where the kernel does not
// publish its config the answer is true: we cannot tell, so we try.
func KernelSupportsXFSQuota() bool {
	f, err := os.Open("/proc/config.gz")
	if err != nil {
		return true
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return true
	}
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "CONFIG_XFS_QUOTA=") {
			return true
		}
		if line == "# CONFIG_XFS_QUOTA is not set" {
			return false
		}
	}
	return true
}
