// Package layercopy copies an overlay upper directory tree from fast storage
// (a tmpfs) to the persistent root faithfully: whiteout devices, opaque and
// redirect xattrs, capabilities, hardlinks, ownership, modes, nanosecond
// times and sparse holes. continuity's CopyDir does all but the last across
// filesystems: when copy_file_range refuses (EXDEV, tmpfs to ext4) it falls
// back to io.Copy, which writes every hole out as zeros, and a file with a
// huge apparent size on a small tmpfs would fill the disk.
//
// The source may be an upper that a running container still writes to, and
// the copy runs as root. So it never resolves a path: every entry of both
// trees is opened relative to its parent directory's descriptor, one
// component at a time, with openat2 refusing symlinks, and everything after
// is done on the descriptor. Whatever the container swaps in, a symlink is
// copied as a symlink and never followed, on either side.
package layercopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// Copy copies the tree src to dst. dst must not exist or be an empty
// directory. Both paths are the caller's own (the snapshotter's root), not
// the container's, and are trusted; nothing below them is.
//
// Entries that change while they are copied follow one rule: whatever inode
// a name holds when it is opened is copied, as what it is then. An entry
// removed between listing its directory and opening it is skipped, as if it
// had been removed just before the copy: a live upper is never copied at
// one instant anyway, and failing instead would let ordinary file churn
// (temporary files, log rotation) fail every Commit of a busy container.
// Any other error fails the copy, naming the entry.
//
// Each level of directory nesting holds three descriptors open while its
// content is copied: a tree nested deeper than the process's descriptor
// limit allows fails with EMFILE rather than being copied in part.
func Copy(ctx context.Context, dst, src string) error {
	return newCopier().copy(ctx, dst, src)
}

type inode struct{ dev, ino uint64 }

type copier struct {
	opener
	links map[inode]string // multiply-linked source inode -> its first copy, relative to dst
	dst   int              // the target root, where links resolve

	// beforeOpen, when set, runs before each source entry is opened, so that
	// tests can change the tree at the worst moment.
	beforeOpen func(rel string)
}

func newCopier() *copier {
	return &copier{links: make(map[inode]string)}
}

func (c *copier) copy(ctx context.Context, dst, src string) error {
	sfd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: src, Err: err}
	}
	sdir := os.NewFile(uintptr(sfd), src)
	defer sdir.Close()
	if err := unix.Mkdir(dst, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "mkdir", Path: dst, Err: err}
	}
	tfd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dst, Err: err}
	}
	tdir := os.NewFile(uintptr(tfd), dst)
	defer tdir.Close()
	c.dst = tfd

	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil {
		return &os.PathError{Op: "stat", Path: src, Err: err}
	}
	if err := copyMeta(file{fd: tfd}, file{fd: sfd}, &st); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := c.dir(ctx, tdir, sdir, "."); err != nil {
		return err
	}
	// After the content, which changes a directory's mtime.
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "set times", Path: dst, Err: err}
	}
	return nil
}

// dir copies the entries of the source directory sdir into tdir; rel is
// their directory relative to the roots.
func (c *copier) dir(ctx context.Context, tdir, sdir *os.File, rel string) error {
	for {
		// In batches: a directory may hold millions of entries.
		names, err := sdir.Readdirnames(1024)
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := c.entry(ctx, tdir, sdir, name, path.Join(rel, name)); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read directory %s of the upper: %w", rel, err)
		}
	}
}

// entry copies name from sdir to tdir, as whatever it is when opened.
func (c *copier) entry(ctx context.Context, tdir, sdir *os.File, name, rel string) error {
	if c.beforeOpen != nil {
		c.beforeOpen(rel)
	}
	fd, err := c.open(int(sdir.Fd()), name, unix.O_PATH)
	if errors.Is(err, unix.ENOENT) {
		return nil // removed since listed: see Copy
	}
	if err != nil {
		return fmt.Errorf("open %s in the upper: %w", rel, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s in the upper: %w", rel, err)
	}
	src := file{fd: fd, pathOnly: true}
	t := int(tdir.Fd())
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		err = c.copyDir(ctx, t, src, name, rel, &st)
	case unix.S_IFREG:
		err = c.copyRegular(t, src, name, rel, &st)
	case unix.S_IFLNK:
		err = c.copySymlink(t, src, name, &st)
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		// Character devices 0/0 are overlayfs whiteouts.
		err = c.copyNode(t, src, name, &st)
	default:
		err = fmt.Errorf("unsupported file type %o", st.Mode&unix.S_IFMT)
	}
	if errors.Is(err, errAlreadyCopied) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("copy %s of the upper: %w", rel, err)
	}
	return nil
}

// errAlreadyCopied: the name exists in the target already. Only the copy
// creates names there, so it listed this name twice, which a directory
// read may do when a rename moves an entry past it; the first copy stands.
var errAlreadyCopied = errors.New("already copied")

func created(err error) error {
	if errors.Is(err, unix.EEXIST) {
		return errAlreadyCopied
	}
	return err
}

func (c *copier) copyDir(ctx context.Context, tparent int, src file, name, rel string, st *unix.Stat_t) error {
	sfd, err := reopen(src.fd, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	sdir := os.NewFile(uintptr(sfd), rel)
	defer sdir.Close()
	if err := unix.Mkdirat(tparent, name, 0o700); err != nil {
		return created(err)
	}
	tfd, err := c.open(tparent, name, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	tdir := os.NewFile(uintptr(tfd), rel)
	defer tdir.Close()
	if err := copyMeta(file{fd: tfd}, file{fd: sfd}, st); err != nil {
		return err
	}
	if err := c.dir(ctx, tdir, sdir, rel); err != nil {
		return err
	}
	// After the content, which changes a directory's mtime.
	return setTimes(tparent, name, st)
}

func (c *copier) copyRegular(tparent int, src file, name, rel string, st *unix.Stat_t) error {
	id := inode{dev: st.Dev, ino: st.Ino}
	if st.Nlink > 1 {
		if first, ok := c.links[id]; ok {
			return c.link(tparent, name, first)
		}
	}
	sfd, err := reopen(src.fd, unix.O_RDONLY)
	if err != nil {
		return err
	}
	in := os.NewFile(uintptr(sfd), rel)
	defer in.Close()
	tfd, err := unix.Openat(tparent, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return created(err)
	}
	out := os.NewFile(uintptr(tfd), rel)
	defer out.Close()
	if err := copyData(out, in, st.Size); err != nil {
		return err
	}
	// After the data: a write clears setuid bits and capabilities.
	if err := copyMeta(file{fd: tfd}, file{fd: sfd}, st); err != nil {
		return err
	}
	if err := setTimes(tparent, name, st); err != nil {
		return err
	}
	if st.Nlink > 1 {
		c.links[id] = rel
	}
	return nil
}

// link makes name in tparent a hardlink of first, an earlier copy. The
// inode's metadata came with that copy.
func (c *copier) link(tparent int, name, first string) error {
	dir := c.dst
	if d := path.Dir(first); d != "." {
		fd, err := c.open(c.dst, d, unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("open %s, to link to %s: %w", d, first, err)
		}
		defer unix.Close(fd)
		dir = fd
	}
	if err := unix.Linkat(dir, path.Base(first), tparent, name, 0); err != nil {
		return fmt.Errorf("link to %s: %w", first, created(err))
	}
	return nil
}

func (c *copier) copySymlink(tparent int, src file, name string, st *unix.Stat_t) error {
	// The descriptor holds the link itself; its text cannot change.
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(src.fd, "", buf)
	if err == nil && n == len(buf) {
		err = unix.ENAMETOOLONG // truncated: no filesystem here makes one so long
	}
	if err != nil {
		return fmt.Errorf("readlink: %w", err)
	}
	if err := unix.Symlinkat(string(buf[:n]), tparent, name); err != nil {
		return created(err)
	}
	return c.finishNode(tparent, src, name, st)
}

// copyNode copies a device, fifo or socket without ever opening it.
func (c *copier) copyNode(tparent int, src file, name string, st *unix.Stat_t) error {
	if err := unix.Mknodat(tparent, name, st.Mode, int(st.Rdev)); err != nil {
		return created(err)
	}
	return c.finishNode(tparent, src, name, st)
}

// finishNode gives a new symlink, device, fifo or socket its metadata.
func (c *copier) finishNode(tparent int, src file, name string, st *unix.Stat_t) error {
	tfd, err := c.open(tparent, name, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	if err := copyMeta(file{fd: tfd, pathOnly: true}, src, st); err != nil {
		return err
	}
	return setTimes(tparent, name, st)
}
