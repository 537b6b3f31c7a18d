//go:build linux

// Package snapshotter is Brisk's containerd snapshotter: overlay semantics
// identical to containerd's overlayfs snapshotter, with the upperdir and
// workdir of every container's rootfs on fast storage of its own (a tmpfs per
// snapshot, or a dedicated mount) while image layers stay on the persistent
// root. Metadata lives in containerd's own snapshot store.
package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/core/snapshots/storage"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay/overlayutils"
	"github.com/containerd/continuity/fs"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
)

// Snapshotter implements snapshots.Snapshotter and snapshots.Cleaner.
type Snapshotter struct {
	root         string
	ms           *storage.MetaStore
	opts         options
	mountOptions []string // appended to every overlay mount

	// The backends uppers are placed in (backends.go).
	rootStore upper.RootStore
	tmpfs     *upper.TmpfsPool
	dirs      *upper.DirStore // nil unless upper_dir is configured

	defaultProfile profile
	profiles       map[string]profile         // by profile name (profile.go)
	profileDirs    map[string]*upper.DirStore // profiles' own upper_dirs, by path

	locks idLocks
	// batch gives concurrent Prepares one metadata commit (batch.go).
	batch writeBatch

	// newDirs are the temporary directories of the Prepares in flight
	// (newdirs.go), by name; newDirMu orders their creation with the
	// listing of orphans.
	newDirMu sync.Mutex
	newDirs  map[string]struct{}
	// spares are directories of removed snapshots kept for the next
	// Prepares (newdirs.go); reserving, those being renamed to be one.
	spares    []string
	reserving map[string]struct{}

	// bootID is the kernel's ID of the current boot, read at the first
	// Mounts of a volatile upper (volatile.go).
	bootID func() ([]byte, error)

	// mu guards placements, draining and committing, and is held while
	// the tmpfs pool changes along with them, so the budget audit sees
	// both or neither.
	mu sync.RWMutex
	// placements holds the record of every active snapshot whose upper is
	// not on the root, by snapshot ID; absent means KindRoot.
	placements map[string]upper.Record
	// draining holds the tmpfs uppers that no live snapshot owns any more
	// but that an overlay still uses (a committed snapshot whose container
	// still runs, an orphan found at start), by directory name under
	// snapshots/, with the bytes they keep booked until Cleanup frees them.
	draining map[string]int64
	// preparing holds the tmpfs bookings of the snapshots being created,
	// by the temporary name of their directory, until their ID is known.
	preparing map[string]int64
	// committing holds the IDs of the snapshots whose upper a Commit is
	// copying to the root, outside any transaction: Remove and a second
	// Commit of them are refused meanwhile.
	committing map[string]struct{}
}

var (
	_ snapshots.Snapshotter = (*Snapshotter)(nil)
	_ snapshots.Cleaner     = (*Snapshotter)(nil)
)

// New opens (or creates) a snapshotter rooted at root. It reconciles the
// metadata with what is mounted: live tmpfs uppers are kept, missing ones
// (after a reboot) are recreated empty.
func New(ctx context.Context, root string, opts ...Opt) (_ *Snapshotter, retErr error) {
	var o options
	for _, opt := range append([]Opt{WithConfig(config.DefaultSnapshotter())}, opts...) {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	defaultProfile, profiles, err := o.buildProfiles()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0o700); err != nil {
		return nil, err
	}
	supportsDType, err := fs.SupportsDType(root)
	if err != nil {
		return nil, err
	}
	if !supportsDType {
		return nil, fmt.Errorf("%s does not support d_type; if it is XFS, reformat with ftype=1: %w", root, errdefs.ErrFailedPrecondition)
	}
	ms, err := openMetaStore(ctx, root)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			ms.Close()
		}
	}()

	s := &Snapshotter{
		root:           root,
		ms:             ms,
		opts:           o,
		tmpfs:          upper.NewTmpfsPool(filepath.Join(root, "snapshots"), o.tmpfsBudget),
		rootStore:      upper.RootStore{Dir: filepath.Join(root, "snapshots")},
		defaultProfile: defaultProfile,
		profiles:       profiles,
		placements:     make(map[string]upper.Record),
		draining:       make(map[string]int64),
		committing:     make(map[string]struct{}),
		preparing:      make(map[string]int64),
		newDirs:        make(map[string]struct{}),
		reserving:      make(map[string]struct{}),
		batch:          writeBatch{ms: ms},
		bootID:         sync.OnceValues(readBootID),
	}
	if o.upperDir != "" {
		if s.dirs, err = upper.OpenDirStore(ctx, o.upperDir); err != nil {
			return nil, err
		}
	}
	if err := s.openProfileDirs(ctx); err != nil {
		return nil, err
	}
	s.mountOptions = overlayOptions(ctx, root, o.extraMountOpts)

	if err := s.reconcile(ctx); err != nil {
		return nil, fmt.Errorf("reconcile snapshots with mounts: %w", err)
	}
	if _, err := s.CheckBudget(ctx); err != nil {
		return nil, fmt.Errorf("audit the tmpfs budget: %w", err)
	}
	return s, nil
}

// overlayOptions are the options every overlay mount carries. noatime and
// nodiratime are here, not only on the tmpfs, because overlayfs clones the
// upper mount privately and ignores its atime flags: atime updates are
// decided by the overlay mount itself.
func overlayOptions(ctx context.Context, root string, extra []string) []string {
	opts := append([]string{"noatime", "nodiratime"}, extra...)
	if !hasOption(opts, "userxattr") {
		userxattr, err := overlayutils.NeedsUserXAttr(root)
		if err != nil {
			log.G(ctx).WithError(err).Warnf("cannot detect whether overlay needs userxattr, assuming %v", userxattr)
		}
		if userxattr {
			opts = append(opts, "userxattr")
		}
	}
	// As containerd does: with the index feature on, a layer shared by two
	// overlays would refuse the second mount.
	if !hasOption(opts, "index") {
		if _, err := os.Stat("/sys/module/overlay/parameters/index"); err == nil {
			opts = append(opts, "index=off")
		}
	}
	return opts
}

func hasOption(opts []string, key string) bool {
	for _, o := range opts {
		if o == key || len(o) > len(key) && o[:len(key)+1] == key+"=" {
			return true
		}
	}
	return false
}

// Stat returns the info of a snapshot by key.
func (s *Snapshotter) Stat(ctx context.Context, key string) (info snapshots.Info, err error) {
	err = s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		_, info, _, err = storage.GetInfo(ctx, key)
		return err
	})
	return info, err
}

// Update updates the labels of a snapshot.
func (s *Snapshotter) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (newInfo snapshots.Info, err error) {
	err = s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		newInfo, err = storage.UpdateInfo(ctx, info, fieldpaths...)
		return err
	})
	return newInfo, err
}

// Walk calls fn for every snapshot matching the filters.
func (s *Snapshotter) Walk(ctx context.Context, fn snapshots.WalkFunc, filters ...string) error {
	return s.ms.WithTransaction(ctx, false, func(ctx context.Context) error {
		return storage.WalkInfo(ctx, fn, filters...)
	})
}

// Close releases the metadata store. Mounted uppers stay: containers keep
// running across a snapshotter restart.
func (s *Snapshotter) Close() error {
	return s.ms.Close()
}

// Budget reports the tmpfs budget and how much of it live snapshots reserve.
func (s *Snapshotter) Budget() (limit, inUse int64) {
	return s.tmpfs.Budget()
}

// idMap is storage.IDMap, with a store that has never held a snapshot (no
// bucket yet) read as empty rather than as an error.
func idMap(ctx context.Context) (map[string]string, error) {
	ids, err := storage.IDMap(ctx)
	if errdefs.IsNotFound(err) {
		return map[string]string{}, nil
	}
	return ids, err
}

var getInfo = storage.GetInfo
