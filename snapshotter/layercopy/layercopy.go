// Package layercopy copies an overlay upper directory tree from fast storage
// (a tmpfs) to the persistent root faithfully: whiteout devices, opaque and
// redirect xattrs, hardlinks, ownership, modes, nanosecond times and sparse
// holes. continuity's CopyDir does all but the last across filesystems: when
// copy_file_range refuses (EXDEV, tmpfs to ext4) it falls back to io.Copy,
// which writes every hole out as zeros, and a file with a huge apparent size
// on a small tmpfs would fill the disk.
package layercopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/continuity/sysx"
	"golang.org/x/sys/unix"
)

// Copy copies the tree src to dst. dst must not exist or be an empty
// directory.
func Copy(ctx context.Context, dst, src string) error {
	c := copier{links: make(map[uint64]string)}
	var dirs []string // set times of directories after their content
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return fmt.Errorf("lstat %s: %w", path, err)
		}
		if err := c.entry(target, path, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		rel, _ := filepath.Rel(src, dirs[i])
		var st unix.Stat_t
		if err := unix.Lstat(dirs[i], &st); err != nil {
			return err
		}
		if err := setTimes(filepath.Join(dst, rel), &st); err != nil {
			return err
		}
	}
	return nil
}

type copier struct {
	links map[uint64]string // inode in src -> first path made in dst
}

func (c *copier) entry(target, source string, st *unix.Stat_t) error {
	mode := st.Mode &^ unix.S_IFMT
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("mkdir %s: %w", target, err)
		}
	case unix.S_IFREG:
		if st.Nlink > 1 {
			if first, ok := c.links[st.Ino]; ok {
				if err := os.Link(first, target); err != nil {
					return fmt.Errorf("link %s: %w", target, err)
				}
				return nil // the inode's metadata is already copied
			}
			c.links[st.Ino] = target
		}
		if err := copyRegular(target, source, st.Size); err != nil {
			return err
		}
	case unix.S_IFLNK:
		link, err := os.Readlink(source)
		if err != nil {
			return err
		}
		if err := os.Symlink(link, target); err != nil {
			return fmt.Errorf("symlink %s: %w", target, err)
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		// Character devices 0/0 are overlayfs whiteouts.
		if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", target, err)
		}
	default:
		return fmt.Errorf("%s: unsupported file type %o", source, st.Mode&unix.S_IFMT)
	}
	if err := unix.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", target, err)
	}
	if err := copyXattrs(target, source); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		// After chown, which clears setuid and setgid bits.
		if err := unix.Chmod(target, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", target, err)
		}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return nil // after its content, in Copy
	}
	return setTimes(target, st)
}

// copyRegular copies only the data extents of source, so holes stay holes.
func copyRegular(target, source string, size int64) error {
	in, err := os.Open(source)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := out.Truncate(size); err != nil {
		return fmt.Errorf("truncate %s: %w", target, err)
	}
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			// No SEEK_DATA on this filesystem: everything is data.
			data = off
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		if err := copyRange(out, in, data, hole-data); err != nil {
			return fmt.Errorf("copy %s: %w", source, err)
		}
		off = hole
	}
	return nil
}

func copyRange(out, in *os.File, off, n int64) error {
	for n > 0 {
		srcOff, dstOff := off, off
		w, err := unix.CopyFileRange(int(in.Fd()), &srcOff, int(out.Fd()), &dstOff, int(min(n, 1<<30)), 0)
		if err != nil || w == 0 {
			// Across filesystems the kernel may refuse; copy by hand.
			_, err := io.Copy(io.NewOffsetWriter(out, off), io.NewSectionReader(in, off, n))
			return err
		}
		off += int64(w)
		n -= int64(w)
	}
	return nil
}

func copyXattrs(target, source string) error {
	names, err := sysx.LListxattr(source)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return fmt.Errorf("list xattrs of %s: %w", source, err)
	}
	for _, name := range names {
		value, err := sysx.LGetxattr(source, name)
		if err != nil {
			return fmt.Errorf("get xattr %s of %s: %w", name, source, err)
		}
		if err := unix.Lsetxattr(target, name, value, 0); err != nil {
			return fmt.Errorf("set xattr %s on %s: %w", name, target, err)
		}
	}
	return nil
}

func setTimes(path string, st *unix.Stat_t) error {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", path, err)
	}
	return nil
}
