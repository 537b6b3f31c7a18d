//go:build linux

package snapshotter

import (
	"fmt"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/errdefs"
)

// backend is the store a record's upper lives in. It is the one place that
// maps a placement's kind to its implementation; everything else asks the
// backend.
func (s *Snapshotter) backend(rec upper.Record) (upper.Backend, error) {
	switch rec.Kind {
	case upper.KindTmpfs:
		return s.tmpfs, nil
	case upper.KindDir:
		if dirs := s.dirsFor(rec); dirs != nil {
			return dirs, nil
		}
		return nil, fmt.Errorf("upper_dir %q is not configured: %w", s.upperDirOf(rec), errdefs.ErrFailedPrecondition)
	case upper.KindRoot, "":
		return s.rootStore, nil
	default:
		return nil, fmt.Errorf("placement record names upper backend %q, which this snapshotter does not have: %w", rec.Kind, errdefs.ErrFailedPrecondition)
	}
}
