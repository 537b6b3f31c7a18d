package layercopy

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// resolve is how every name in either tree is looked up: never through a
// symlink (a last component that is one, O_PATH|O_NOFOLLOW opens as the
// link itself), never above the directory, never across a mount. A
// container cannot mount inside its upper, so a mount there is the host's,
// and its content does not belong in a layer.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// opener opens names beneath a directory descriptor the way resolve says:
// with openat2 where the kernel has it (Linux 5.6), else one component at
// a time with O_NOFOLLOW.
type opener struct {
	noOpenat2 bool // learnt from ENOSYS, or set by tests
}

// open opens name, relative to dir, without following any symlink.
func (o *opener) open(dir int, name string, flags int) (int, error) {
	if !o.noOpenat2 {
		fd, err := openat2(dir, name, flags)
		if err != unix.ENOSYS {
			return fd, err
		}
		o.noOpenat2 = true
	}
	return openStepwise(dir, name, flags)
}

func openat2(dir int, name string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC), Resolve: resolve}
	for attempt := 0; ; attempt++ {
		fd, err := unix.Openat2(dir, name, &how)
		// EAGAIN: a rename raced a ".." in the lookup and openat2 asks to
		// retry rather than risk an escape. Names here have no "..", but
		// renames in a container's upper must never make this spin.
		if err == unix.EINTR || (err == unix.EAGAIN && attempt < maxRetries) {
			continue
		}
		return fd, err
	}
}

const maxRetries = 64

// openStepwise is resolve without openat2: each component opened with
// O_NOFOLLOW from the one before, ".." refused, and a change of device
// taken for a mount.
func openStepwise(dir int, name string, flags int) (int, error) {
	var root unix.Stat_t
	if err := unix.Fstat(dir, &root); err != nil {
		return -1, err
	}
	parts := strings.Split(strings.Trim(name, "/"), "/")
	cur := dir
	for i, part := range parts {
		if part == ".." {
			return -1, unix.EXDEV // what openat2 says to an escape
		}
		f := unix.O_PATH | unix.O_DIRECTORY
		if i == len(parts)-1 {
			f = flags
		}
		fd, err := openat(cur, part, f|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if cur != dir {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		if st.Dev != root.Dev {
			unix.Close(fd)
			return -1, unix.EXDEV
		}
		cur = fd
	}
	return cur, nil
}

func openat(dir int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// reopen opens the file behind an O_PATH descriptor for I/O. Going through
// the descriptor's /proc link gets exactly the inode that was checked, where
// opening the name again would get whatever has been swapped in since, and
// only regular files and directories are ever reopened: opening a device
// node can have effects on the host.
func reopen(fd int, flags int) (int, error) {
	return openat(unix.AT_FDCWD, fdPath(fd), flags|unix.O_CLOEXEC|unix.O_NOCTTY)
}

// fdPath names the inode behind fd for the calls that take no descriptor
// (xattrs and chmod on an O_PATH descriptor). The /proc link resolves to
// the inode itself, a symlink included, and is never followed further.
func fdPath(fd int) string {
	return "/proc/self/fd/" + strconv.Itoa(fd)
}
