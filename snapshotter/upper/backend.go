package upper

import (
	"context"

	"github.com/brisk-containers/brisk/internal/usage"
)

// Backend is one place an active snapshot's upper can live. The snapshotter
// asks a record's backend (Snapshotter.backend) instead of switching on its
// Kind, so a new kind of fast storage is one new implementation of this
// interface, as stargz's snapshot.FileSystem is for remote layers.
//
// A backend never keeps its own record of which uppers exist: the placement
// records on the persistent root are the truth, and the snapshotter holds its
// per-snapshot lock around every call for an ID.
type Backend interface {
	// Kind is the name records, the config and metrics use for it.
	Kind() Kind
	// Path is the directory holding id's upperdir (FSName) and workdir
	// (WorkName).
	Path(id string) string
	// Reserve books what id's upper may take of a capacity shared by
	// every snapshot (the tmpfs budget), before Create. It fails with
	// errdefs.ErrResourceExhausted when the capacity cannot take it.
	Reserve(id string, l Limits) error
	// Adopt books id's upper whatever the capacity says: after a restart,
	// a live upper is a fact.
	Adopt(id string, l Limits)
	// Unreserve returns id's booking. The snapshotter calls it together
	// with forgetting the placement, so that the budget audit sees both
	// or neither.
	Unreserve(id string)
	// Create makes id's upper, empty, with limits l.
	Create(ctx context.Context, id string, l Limits) error
	// Present reports whether id's upper exists; a tmpfs does not
	// survive a reboot.
	Present(id string) (bool, error)
	// Release deletes id's upper. It fails with ErrBusy while something
	// still uses it, and succeeds for an upper that is already gone.
	Release(ctx context.Context, id string) error
	// Usage reports what id's upper holds and, where enforced, may hold.
	// It only reads: an upper gone meanwhile is empty, with limits l.
	Usage(ctx context.Context, id string, l Limits) (usage.Usage, error)
}

var (
	_ Backend = (*TmpfsPool)(nil)
	_ Backend = (*DirStore)(nil)
	_ Backend = RootStore{}
)
