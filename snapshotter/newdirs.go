//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// A Prepare builds its snapshot's directory under a temporary name
// (snapshots/new-*) before its transaction, as the metadata hands out the ID
// only inside it. Such a directory is an orphan only once its Prepare has
// gone: Cleanup, which removes the directories the metadata does not know,
// must tell a Prepare in flight from a crash's leftover. newDirMu makes
// creating a directory and registering it one step, and listing the
// snapshot directories and reading the registrations another.
//
// The directory of a removed container's snapshot is kept for the next one
// (a spare: the directory and the empty mount point of its tmpfs, under a
// temporary name of its own) rather than removed and made again: on a busy
// root disk every directory created or removed queues behind the
// neighbours' journal commits, and a burst removes and prepares containers
// by the dozen. A spare is registered as in flight for as long as it waits,
// and a crash leaves it an orphan like any temporary directory.

// maxSpares bounds the spare directories kept.
const maxSpares = 64

// newDir returns a temporary snapshot directory, a spare (with its tmpfs
// mount point) when tmpfs is set and there is one, registered as in flight
// until doneNewDir.
func (s *Snapshotter) newDir(tmpfs bool) (string, error) {
	s.newDirMu.Lock()
	defer s.newDirMu.Unlock()
	if n := len(s.spares); tmpfs && n > 0 {
		name := s.spares[n-1]
		s.spares = s.spares[:n-1]
		return s.snapshotDir(name), nil
	}
	td, err := os.MkdirTemp(s.snapshotsDir(), newDirPattern)
	if err != nil {
		return "", err
	}
	s.newDirs[filepath.Base(td)] = struct{}{}
	return td, nil
}

// doneNewDir ends name's registration: its Prepare renamed the directory to
// the snapshot's ID, or removed it.
func (s *Snapshotter) doneNewDir(name string) {
	s.newDirMu.Lock()
	defer s.newDirMu.Unlock()
	delete(s.newDirs, name)
}

// recycleDir keeps the directory of removed snapshot id, whose tmpfs upper
// was released and its mount point left, as a spare; when there are enough
// spares, or the directory holds more than a spare does, it removes it.
func (s *Snapshotter) recycleDir(ctx context.Context, id string) {
	dir := s.snapshotDir(id)
	if err := os.Remove(filepath.Join(dir, upper.RecordName)); err != nil && !os.IsNotExist(err) {
		log.G(ctx).WithError(err).WithField("path", dir).Warn("failed to remove the placement record of a removed snapshot")
	}
	// A layer directory (an earlier version made one for every
	// snapshot) goes if it is empty; one that is not keeps the
	// directory from being a spare.
	err := unix.Rmdir(upper.FS(dir))
	keep := err == nil || errors.Is(err, unix.ENOENT)
	name := newDirPrefix + "r" + id
	s.newDirMu.Lock()
	if keep && len(s.spares)+len(s.reserving) < maxSpares {
		s.newDirs[name] = struct{}{}
		s.reserving[name] = struct{}{}
	} else {
		keep = false
	}
	s.newDirMu.Unlock()
	if keep {
		err := os.Rename(dir, s.snapshotDir(name))
		s.newDirMu.Lock()
		delete(s.reserving, name)
		if err == nil {
			s.spares = append(s.spares, name)
		} else {
			delete(s.newDirs, name)
		}
		s.newDirMu.Unlock()
		if err == nil {
			return
		}
	}
	if err := unix.Rmdir(filepath.Join(dir, upper.TmpfsName)); err != nil && !errors.Is(err, unix.ENOENT) {
		log.G(ctx).WithError(err).WithField("path", dir).Warn("failed to remove the tmpfs mount point of a removed snapshot")
	}
	if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
		if err := os.RemoveAll(dir); err != nil {
			log.G(ctx).WithError(err).WithField("path", dir).Warn("failed to remove the directory of a removed snapshot")
		}
	}
}

// snapshotEntries lists the snapshot directories, without those of the
// Prepares in flight and the spares.
func (s *Snapshotter) snapshotEntries() ([]os.DirEntry, error) {
	s.newDirMu.Lock()
	defer s.newDirMu.Unlock()
	entries, err := os.ReadDir(s.snapshotsDir())
	if err != nil {
		return nil, err
	}
	out := entries[:0]
	for _, e := range entries {
		if _, inFlight := s.newDirs[e.Name()]; !inFlight {
			out = append(out, e)
		}
	}
	return out, nil
}
