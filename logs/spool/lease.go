package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Lease is the right to retry the spool's pending entries: one holder per
// node at a time, so that concurrent shims never attempt the same entries
// in parallel. brisk-snapshotter holds it for its whole life; shims take it
// for one pass when no daemon holds it. Each entry's own schedule
// (RetryState) bounds how often it is attempted, whoever holds the lease.
//
// The file lives at a fixed path and is never removed, so a flock on it
// has no window in which two holders could each lock a different file.
type Lease struct {
	f *os.File
}

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
	if err := tryFlock(f); err != nil {
		return nil, err
	}
	return &Lease{f: f}, nil
}

// ErrNoSpool: spool_dir does not exist yet.
var ErrNoSpool = errors.New("spool_dir does not exist yet")

// Release gives the lease up.
func (l *Lease) Release() { l.f.Close() }

// RetryFile holds an entry's retry schedule, written by the lease holder.
const RetryFile = "retry.json"

// RetryState is an entry's retry schedule: failed attempts so far and when
// the next is due. An entry never tried has the zero state: due now.
type RetryState struct {
	Attempts int       `json:"attempts"`
	Next     time.Time `json:"next"`
}

// ReadRetry reads the schedule of the entry in dir.
func ReadRetry(dir string) RetryState {
	var st RetryState
	if b, err := os.ReadFile(filepath.Join(dir, RetryFile)); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// WriteRetry records the schedule of the entry in dir. The caller holds the
// lease. An entry removed meanwhile is not recreated: the write fails.
func (l *Lease) WriteRetry(dir string, st RetryState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, RetryFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("record retry schedule: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, RetryFile))
}
