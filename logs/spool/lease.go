package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Lease is the right to retry the spool's pending entries: one holder per
// node at a time, so that while S3 is down the node re-reads each entry once
// per back-off period, not once per shim. brisk-snapshotter holds it for
// its whole life; shims take it for one pass when no daemon holds it. The
// file also keeps the node's retry schedule, so that a pass by one shim
// counts for all.
//
// The file lives at a fixed path and is never removed, so a flock on it
// has no window in which two holders could each lock a different file.
type Lease struct {
	f *os.File
}

// RetryState is the node's retry schedule.
type RetryState struct {
	LastPass time.Time     `json:"last_pass"`
	Backoff  time.Duration `json:"backoff"` // until the next pass is due
	Failing  bool          `json:"failing"` // the last pass left entries that failed
}

// Due is when the next pass is due.
func (s RetryState) Due() time.Time { return s.LastPass.Add(s.Backoff) }

// TryLease takes the node's retry lease without waiting: ErrLocked while
// another process holds it, ErrNoSpool while spool_dir does not exist
// (no task has run: nothing to retry).
func TryLease(spoolDir string) (*Lease, error) {
	if _, err := os.Stat(spoolDir); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoSpool
	}
	f, err := os.OpenFile(filepath.Join(spoolDir, retrierFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return &Lease{f: f}, nil
}

// State reads the schedule; a new node's is zero (a pass is due).
func (l *Lease) State() RetryState {
	var s RetryState
	b := make([]byte, 512)
	n, _ := l.f.ReadAt(b, 0)
	_ = json.Unmarshal(b[:n], &s)
	return s
}

// Record stores the schedule after a pass.
func (l *Lease) Record(s RetryState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("record retry state: %w", err)
	}
	_, err = l.f.WriteAt(b, 0)
	return err
}

// ErrNoSpool: spool_dir does not exist yet.
var ErrNoSpool = errors.New("spool_dir does not exist yet")

// Release gives the lease up.
func (l *Lease) Release() { l.f.Close() }
