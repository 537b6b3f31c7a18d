package layercopy

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// resolve is how every name in either tree is looked up: one component,
// never a symlink (not even the last one, which O_PATH|O_NOFOLLOW then opens
// as the link itself), never above the directory, never across a mount. A
// container cannot mount inside its upper, so a mount there is the host's,
// and its content does not belong in a layer.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// openBeneath opens name relative to dir without following any symlink.
func openBeneath(dir int, name string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC), Resolve: resolve}
	for attempt := 0; ; attempt++ {
		fd, err := unix.Openat2(dir, name, &how)
		// EAGAIN: a rename raced a ".." in the lookup and openat2 asks to
		// retry rather than risk an escape. Names here have no "..", but a
		// caller passing a longer path must not spin for ever under renames.
		if err == unix.EINTR || (err == unix.EAGAIN && attempt < maxRetries) {
			continue
		}
		return fd, err
	}
}

const maxRetries = 64

// reopen opens the file behind an O_PATH descriptor for I/O. Going through
// the descriptor's /proc link gets exactly the inode that was checked, where
// opening the name again would get whatever has been swapped in since, and
// only regular files and directories are ever reopened: opening a device
// node can have effects on the host.
func reopen(fd int, flags int) (int, error) {
	for {
		nfd, err := unix.Open(fdPath(fd), flags|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err == unix.EINTR {
			continue
		}
		return nfd, err
	}
}

// fdPath names the inode behind fd for the calls that take no descriptor
// (xattrs and chmod on an O_PATH descriptor). The /proc link resolves to
// the inode itself, a symlink included, and is never followed further.
func fdPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}
