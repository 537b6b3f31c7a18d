package layercopy

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// file is an open descriptor in either tree. pathOnly descriptors (O_PATH:
// symlinks, devices, fifos, sockets, which must not be opened for I/O) take
// no fd-based xattr or chmod calls, so those go through their /proc link.
type file struct {
	fd       int
	pathOnly bool
}

// copyMeta gives to what st describes: ownership, then xattrs, then mode.
// The order matters: chown clears setuid/setgid bits and the
// security.capability xattr, so both come after it.
func copyMeta(to, from file, st *unix.Stat_t) error {
	if err := unix.Fchownat(to.fd, "", int(st.Uid), int(st.Gid), unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown to %d:%d: %w", st.Uid, st.Gid, err)
	}
	if err := copyXattrs(to, from); err != nil {
		return err
	}
	mode := st.Mode &^ unix.S_IFMT
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return nil // a symlink's mode is always 0777
	case to.pathOnly:
		if err := unix.Fchmodat(unix.AT_FDCWD, fdPath(to.fd), mode, 0); err != nil {
			return fmt.Errorf("chmod %o: %w", mode, err)
		}
	default:
		if err := unix.Fchmod(to.fd, mode); err != nil {
			return fmt.Errorf("chmod %o: %w", mode, err)
		}
	}
	return nil
}

// copyXattrs copies every xattr: trusted.overlay.* (opaque directories,
// redirects), security.capability, user.*.
func copyXattrs(to, from file) error {
	names, err := from.listXattrs()
	if errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list xattrs: %w", err)
	}
	for _, name := range names {
		value, err := from.getXattr(name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since listed
		}
		if err != nil {
			return fmt.Errorf("get xattr %s: %w", name, err)
		}
		if err := to.setXattr(name, value); err != nil {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

func (f file) listXattrs() ([]string, error) {
	return growing(func(buf []byte) (int, error) {
		if f.pathOnly {
			return unix.Listxattr(fdPath(f.fd), buf)
		}
		return unix.Flistxattr(f.fd, buf)
	}, splitNames)
}

func (f file) getXattr(name string) ([]byte, error) {
	return growing(func(buf []byte) (int, error) {
		if f.pathOnly {
			return unix.Getxattr(fdPath(f.fd), name, buf)
		}
		return unix.Fgetxattr(f.fd, name, buf)
	}, func(b []byte) []byte { return b })
}

func (f file) setXattr(name string, value []byte) error {
	if f.pathOnly {
		return unix.Setxattr(fdPath(f.fd), name, value, 0)
	}
	return unix.Fsetxattr(f.fd, name, value, 0)
}

// growing calls get with a buffer large enough for its answer, which may
// grow between the size query and the read.
func growing[T any](get func([]byte) (int, error), parse func([]byte) T) (T, error) {
	var zero T
	for {
		size, err := get(nil)
		if err != nil {
			return zero, err
		}
		if size == 0 {
			return parse(nil), nil
		}
		buf := make([]byte, size)
		n, err := get(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return zero, err
		}
		return parse(buf[:n]), nil
	}
}

// splitNames splits a listxattr answer: names, each ended by a NUL.
func splitNames(b []byte) []string {
	var names []string
	for _, n := range strings.Split(string(b), "\x00") {
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

// setTimes sets the times of name in dir, a symlink's own included.
func setTimes(dir int, name string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(dir, name, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}
