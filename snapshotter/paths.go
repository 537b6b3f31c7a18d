//go:build linux

package snapshotter

import (
	"path/filepath"

	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// The snapshotter's layout on the persistent root, as containerd's overlayfs
// snapshotter has it, plus a tmpfs mount point per fast upper:
//
//	ROOT/metadata.db
//	ROOT/snapshots/ID/fs          the layer (committed, view, unpack) or a root upper;
//	                              none for an active snapshot on a tmpfs until Commit
//	ROOT/snapshots/ID/work        the workdir of a root upper
//	ROOT/snapshots/ID/upper.json  where the upper was placed (upper.RecordName)
//	ROOT/snapshots/ID/tmpfs/      the snapshot's own tmpfs, holding fs and work
//	ROOT/snapshots/new-*          a Prepare in flight, a removed container's directory
//	                              kept for the next (a spare), or a crash's leftover
//
// A "dir" upper lives in upper_dir/ID/{fs,work} instead.

// newDirPrefix starts the name of the temporary directory a snapshot is
// built in before its ID is known (newDirPattern for os.MkdirTemp, or a
// spare's name); reconcile and Cleanup recognise leftovers by it.
const (
	newDirPrefix  = "new-"
	newDirPattern = newDirPrefix + "*"
)

func (s *Snapshotter) snapshotsDir() string {
	return filepath.Join(s.root, "snapshots")
}

func (s *Snapshotter) snapshotDir(id string) string {
	return filepath.Join(s.snapshotsDir(), id)
}

// persistentFS is where a snapshot's layer lives on the root: every committed
// layer, every view, every unpack snapshot.
func (s *Snapshotter) persistentFS(id string) string {
	return upper.FS(s.snapshotDir(id))
}

// tmpfsDir is the mount point of a snapshot's own tmpfs.
func (s *Snapshotter) tmpfsDir(id string) string {
	return s.tmpfs.Path(id)
}

// upperBase is the directory holding an active snapshot's fs and work.
func (s *Snapshotter) upperBase(id string, rec upper.Record) string {
	b, err := s.backend(rec)
	if err != nil {
		// An upper_dir no longer configured: where the record says.
		return filepath.Join(s.upperDirOf(rec), id)
	}
	return b.Path(id)
}

// upperFS is an active snapshot's overlay upperdir.
func (s *Snapshotter) upperFS(id string, rec upper.Record) string {
	return upper.FS(s.upperBase(id, rec))
}

// workDir is an active snapshot's overlay workdir.
func (s *Snapshotter) workDir(id string, rec upper.Record) string {
	return upper.Work(s.upperBase(id, rec))
}
