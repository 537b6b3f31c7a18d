package snapshotter

import (
	"fmt"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
)

type options struct {
	backend        upper.Kind
	tmpfsLimits    upper.Limits
	tmpfsBudget    int64
	upperDir       string
	fallbackToDir  bool
	volatile       bool
	extraMountOpts []string
	profiles       []config.Profile
	shareLayers    bool
}

// Opt configures a Snapshotter.
type Opt func(*options) error

// WithConfig applies a [snapshotter] section of the configuration file. New
// starts from config.DefaultSnapshotter(), so that every default is decided
// there and nowhere else.
func WithConfig(cfg config.Snapshotter) Opt {
	return func(o *options) error {
		for _, opt := range []Opt{
			WithBackend(upper.Kind(cfg.Upper)),
			WithTmpfsLimits(upper.Limits{Bytes: int64(cfg.TmpfsSize), Inodes: int64(cfg.TmpfsInodes)}),
			WithTmpfsBudget(int64(cfg.TmpfsBudget)),
			WithUpperDir(cfg.UpperDir),
			WithProfiles(cfg.ProfileList()...),
			WithLayerSharing(cfg.ShareLayers),
		} {
			if err := opt(o); err != nil {
				return err
			}
		}
		o.fallbackToDir = cfg.OnBudgetExceeded == config.OnBudgetDir
		o.volatile = cfg.Volatile
		return nil
	}
}

// WithBackend chooses where container uppers go: upper.KindTmpfs (default) or
// upper.KindDir. New checks it with the rest of the default profile.
func WithBackend(k upper.Kind) Opt {
	return func(o *options) error {
		o.backend = k
		return nil
	}
}

// WithTmpfsLimits sets the default per-snapshot limits. They also become the
// XFS project quota of "dir" uppers, so a container's limits do not depend on
// which backend it landed on. New checks them with the rest of the default
// profile.
func WithTmpfsLimits(l upper.Limits) Opt {
	return func(o *options) error {
		o.tmpfsLimits = l
		return nil
	}
}

// WithTmpfsBudget caps the sum of the size limits of all live tmpfs uppers.
func WithTmpfsBudget(bytes int64) Opt {
	return func(o *options) error {
		if bytes <= 0 {
			return fmt.Errorf("tmpfs budget must be positive, got %d: %w", bytes, errdefs.ErrInvalidArgument)
		}
		o.tmpfsBudget = bytes
		return nil
	}
}

// WithUpperDir names the dedicated mount of the "dir" backend.
func WithUpperDir(dir string) Opt {
	return func(o *options) error {
		o.upperDir = dir
		return nil
	}
}

// WithFallbackToDir places a snapshot on the "dir" backend instead of failing
// Prepare when the tmpfs budget is exhausted.
func WithFallbackToDir() Opt {
	return func(o *options) error {
		o.fallbackToDir = true
		return nil
	}
}

// WithVolatile mounts "dir" uppers with overlayfs volatile by default: syncs
// inside the container stop reaching the device ("flush only at shutdown").
func WithVolatile() Opt {
	return func(o *options) error {
		o.volatile = true
		return nil
	}
}

// WithMountOptions adds overlay mount options, as containerd's overlayfs
// snapshotter option of the same name does.
func WithMountOptions(opts ...string) Opt {
	return func(o *options) error {
		o.extraMountOpts = append(o.extraMountOpts, opts...)
		return nil
	}
}
