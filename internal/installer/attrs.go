package installer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/atomicfile"
)

// editFile replaces the content of an operator's file at path (no symlink
// in it: see Layout.resolve) and keeps everything else it has: owner, mode
// bits and extended attributes (an SELinux label, ACLs, configuration
// management's marks), which a file renamed into its place would not have.
// It reports whether the content changed.
func editFile(path string, data []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	if bytes.Equal(old, data) {
		return false, nil
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false, &os.PathError{Op: "lstat", Path: path, Err: err}
	}
	xattrs, err := readXattrs(path)
	if err != nil {
		return false, err
	}
	keep := func(f *os.File) error {
		if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		// After the chown, which clears the set-ID bits.
		if err := unix.Fchmod(int(f.Fd()), st.Mode&0o7777); err != nil {
			return &os.PathError{Op: "fchmod", Path: f.Name(), Err: err}
		}
		return setXattrs(f, xattrs)
	}
	if err := atomicfile.Write(path, data, os.FileMode(st.Mode&0o777), atomicfile.WithSync(), atomicfile.WithSetup(keep)); err != nil {
		return false, err
	}
	return true, nil
}

type xattr struct {
	name  string
	value []byte
}

// readXattrs reads every extended attribute of path (not following a
// symlink); a filesystem without them has none.
func readXattrs(path string) ([]xattr, error) {
	size, err := unix.Llistxattr(path, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
	}
	list := make([]byte, size)
	if size, err = unix.Llistxattr(path, list); err != nil {
		return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
	}
	var out []xattr
	for _, name := range bytes.Split(list[:size], []byte{0}) {
		if len(name) == 0 {
			continue
		}
		n, err := unix.Lgetxattr(path, string(name), nil)
		if err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", name, path, err)
		}
		value := make([]byte, n)
		if n, err = unix.Lgetxattr(path, string(name), value); err != nil {
			return nil, fmt.Errorf("read xattr %s of %s: %w", name, path, err)
		}
		out = append(out, xattr{name: string(name), value: value[:n]})
	}
	return out, nil
}

// setXattrs gives f exactly xattrs: each is set, and one f got from its
// directory (a default ACL) that the old file did not have is dropped where
// the kernel lets it be.
func setXattrs(f *os.File, xattrs []xattr) error {
	fd := int(f.Fd())
	for _, x := range xattrs {
		if err := unix.Fsetxattr(fd, x.name, x.value, 0); err != nil {
			return fmt.Errorf("keep xattr %s on %s: %w", x.name, f.Name(), err)
		}
	}
	has, err := readXattrs(f.Name())
	if err != nil {
		return err
	}
	for _, x := range has {
		if !slices.ContainsFunc(xattrs, func(y xattr) bool { return y.name == x.name }) {
			_ = unix.Fremovexattr(fd, x.name)
		}
	}
	return nil
}
