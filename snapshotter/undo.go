//go:build linux

package snapshotter

import (
	"context"

	"github.com/containerd/log"
)

// undo holds the steps that take back what a half-done operation made, so
// that a failure removes exactly that and nothing it found already there.
// Steps run last first: an upper is unmounted before the directory holding
// its mount point is removed.
type undo []func() error

func (u *undo) push(step func() error) { *u = append(*u, step) }

// pop drops the newest step, for when what it would take back has been
// handed on (a temporary directory renamed into place).
func (u *undo) pop() { *u = (*u)[:len(*u)-1] }

// run takes everything back and empties u. Failures are logged: what is left
// over is an orphan, which Cleanup and the next start remove.
func (u *undo) run(ctx context.Context) {
	for i := len(*u) - 1; i >= 0; i-- {
		if err := (*u)[i](); err != nil {
			log.G(ctx).WithError(err).Error("failed to undo part of a failed snapshot operation; Cleanup will retry")
		}
	}
	*u = nil
}
