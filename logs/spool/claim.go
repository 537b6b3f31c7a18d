package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked: another process owns the entry.
var ErrLocked = errors.New("spool entry is locked by its owner")

// ErrGone: the entry was shipped or removed by another process meanwhile.
// It is not a failure: whoever removed it had shipped it.
var ErrGone = errors.New("spool entry is gone")

// Claim is the lock on one entry. The lock is a flock(2) on the entry
// directory itself: nothing is created to take it, so taking it can never
// recreate an entry its owner just removed, and the kernel drops it when its
// holder dies, which is how a retrier knows an entry is orphaned.
type Claim struct {
	dir  string
	lock *os.File
}

// Lock claims the entry in dir without waiting: ErrLocked while its owner
// lives, ErrGone if it was removed, before or while the lock was taken.
func Lock(dir string) (*Claim, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrGone
	}
	if err != nil {
		return nil, err
	}
	if err := tryFlock(f); err != nil {
		return nil, err
	}
	// The owner may have renamed the entry away between our open and our
	// flock: the lock is then on a directory no longer at dir.
	if !samePath(f, dir) {
		f.Close()
		return nil, ErrGone
	}
	// An entry an earlier version made is locked by its shim on a file
	// inside it; that shim may still run during an upgrade.
	if legacy, err := os.OpenFile(filepath.Join(dir, legacyLockFile), os.O_RDWR, 0); err == nil {
		switch err := tryFlock(legacy); {
		case err == nil:
			legacy.Close() // closing drops our flock: the directory's lock is ours
		case errors.Is(err, ErrLocked):
			f.Close()
			return nil, ErrLocked
		}
	}
	return &Claim{dir: dir, lock: f}, nil
}

// tryFlock takes an exclusive flock on f without waiting, closing f if it
// cannot: ErrLocked while another process holds it.
func tryFlock(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return nil
	}
	f.Close()
	if errors.Is(err, unix.EWOULDBLOCK) {
		return ErrLocked
	}
	return fmt.Errorf("flock %s: %w", f.Name(), err)
}

// legacyLockFile is the lock of an entry made by an earlier version.
const legacyLockFile = "lock"

func samePath(f *os.File, path string) bool {
	var held, now unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(path, &now) != nil {
		return false
	}
	return held.Dev == now.Dev && held.Ino == now.Ino
}

// Dir is the claimed entry's directory.
func (c *Claim) Dir() string { return c.dir }

// Release drops the lock.
func (c *Claim) Release() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// Remove takes the shipped entry out of the spool: one rename to a
// tombstone, then the removal, the lock held throughout. A crash at any
// step leaves either the whole entry in place (shipped again, to the same
// key) or a tombstone Sweep deletes; never a part of an entry.
func (c *Claim) Remove() error {
	tomb, err := tombstone(spoolDirOf(c.dir))
	if err != nil {
		return fmt.Errorf("remove spool entry %s: %w", c.dir, err)
	}
	if err := os.Rename(c.dir, tomb); err != nil {
		return fmt.Errorf("remove spool entry %s: %w", c.dir, err)
	}
	c.dir = tomb
	// Out of the spool now: what RemoveAll leaves, Sweep removes.
	_ = os.RemoveAll(tomb)
	return nil
}

// ReasonFile holds why a quarantined entry cannot ship.
const ReasonFile = "reason"

// Quarantine moves an entry that can never ship out of the retriers' way,
// with the reason, where an operator finds it (briskctl flush lists it).
func (c *Claim) Quarantine(reason string) error {
	if err := os.WriteFile(filepath.Join(c.dir, ReasonFile), []byte(reason+"\n"), 0o600); err != nil {
		return fmt.Errorf("quarantine spool entry %s: %w", c.dir, err)
	}
	ns := filepath.Base(filepath.Dir(c.dir))
	dest := filepath.Join(spoolDirOf(c.dir), quarantineDir, ns, filepath.Base(c.dir))
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return fmt.Errorf("quarantine spool entry %s: %w", c.dir, err)
	}
	if err := os.Rename(c.dir, dest); err != nil {
		return fmt.Errorf("quarantine spool entry %s: %w", c.dir, err)
	}
	c.dir = dest
	return nil
}

// QuarantinedEntry is an entry set aside for good.
type QuarantinedEntry struct {
	Dir    string
	Meta   Meta // as far as it could be read
	Reason string
	Since  time.Time
}

// QuarantinedDirs lists the directories of the quarantined entries in
// spoolDir: what uninstall must keep.
func QuarantinedDirs(spoolDir string) ([]string, error) {
	q, err := Quarantined(spoolDir)
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(q))
	for _, e := range q {
		dirs = append(dirs, e.Dir)
	}
	return dirs, nil
}

// Quarantined lists the quarantined entries under spoolDir.
func Quarantined(spoolDir string) ([]QuarantinedEntry, error) {
	root := filepath.Join(spoolDir, quarantineDir)
	nss, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []QuarantinedEntry
	for _, ns := range nss {
		entries, err := os.ReadDir(filepath.Join(root, ns.Name()))
		if err != nil {
			continue
		}
		for _, e := range entries {
			q := QuarantinedEntry{Dir: filepath.Join(root, ns.Name(), e.Name())}
			q.Meta, _ = ReadMeta(q.Dir)
			if b, err := os.ReadFile(filepath.Join(q.Dir, ReasonFile)); err == nil {
				q.Reason = string(trimNewline(b))
			}
			if fi, err := os.Stat(filepath.Join(q.Dir, ReasonFile)); err == nil {
				q.Since = fi.ModTime()
			}
			out = append(out, q)
		}
	}
	return out, nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	return b
}
