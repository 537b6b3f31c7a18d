package spool

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Requeue puts the quarantined entry in dir (as Quarantined lists it) back
// among the pending entries, due at once and without its reason, for after
// an operator fixed what kept it from shipping: the next pass of a retrier
// or of briskctl flush ships it, or quarantines it again with the reason of
// the day. It returns the entry's pending directory. The entry is locked
// throughout (the lock follows the directory through the rename), so no
// retrier takes it half requeued.
func Requeue(dir string) (string, error) {
	qroot := filepath.Dir(filepath.Dir(dir))
	if filepath.Base(qroot) != quarantineDir {
		return "", fmt.Errorf("requeue %s: not a quarantined spool entry: %w", dir, errdefs.ErrInvalidArgument)
	}
	dest := filepath.Join(filepath.Dir(qroot), filepath.Base(filepath.Dir(dir)), filepath.Base(dir))
	c, err := Lock(dir)
	if err != nil {
		return "", fmt.Errorf("requeue %s: %w", dir, err)
	}
	defer c.Release()
	for _, f := range []string{RetryFile, ReasonFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("requeue %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o700); err != nil {
		return "", fmt.Errorf("requeue %s: %w", dir, err)
	}
	// Never over an entry of the same name (there is none, as runs are
	// unique, unless someone copied one back by hand).
	if err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, dest, unix.RENAME_NOREPLACE); err != nil {
		return "", fmt.Errorf("requeue %s as %s: %w", dir, dest, err)
	}
	return dest, nil
}
