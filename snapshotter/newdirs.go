//go:build linux

package snapshotter

import (
	"os"
	"path/filepath"
)

// A Prepare builds its snapshot's directory under a temporary name
// (snapshots/new-*) before its transaction, as the metadata hands out the ID
// only inside it. Such a directory is an orphan only once its Prepare has
// gone: Cleanup, which removes the directories the metadata does not know,
// must tell a Prepare in flight from a crash's leftover. newDirMu makes
// creating a directory and registering it one step, and listing the
// snapshot directories and reading the registrations another.

// newDir creates a temporary snapshot directory and registers it as in
// flight until doneNewDir.
func (s *Snapshotter) newDir() (string, error) {
	s.newDirMu.Lock()
	defer s.newDirMu.Unlock()
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

// snapshotEntries lists the snapshot directories, without those of the
// Prepares in flight.
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
