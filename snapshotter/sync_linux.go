package snapshotter

import "golang.org/x/sys/unix"

func unixSyncfs(fd int) error { return unix.Syncfs(fd) }
