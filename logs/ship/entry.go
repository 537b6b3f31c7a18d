package ship

import (
	"context"
	"errors"
	"fmt"

	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

// Status is what one pass did with one entry.
type Status int

const (
	// Shipped: stored and removed from the spool.
	Shipped Status = iota
	// Owned: a running shim holds the entry (its task runs, or it is
	// uploading it); not a failure.
	Owned
	// Gone: shipped and removed by another process while this pass looked;
	// not a failure.
	Gone
	// Failed: the upload failed in a way a later pass may not; the entry
	// stays for the retrier.
	Failed
	// Quarantined: the entry can never ship; it was set aside with its
	// reason.
	Quarantined
)

func (s Status) String() string {
	switch s {
	case Shipped:
		return "shipped"
	case Owned:
		return "running"
	case Gone:
		return "gone"
	case Failed:
		return "failed"
	case Quarantined:
		return "quarantined"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Outcome is one entry's result.
type Outcome struct {
	Dir    string
	Status Status
	Err    error       // why, for Failed and Quarantined
	Meta   *spool.Meta // what the entry shipped with, as read under its lock; nil when not read
}

// Result of one pass over the spool.
type Result struct {
	Entries []Outcome
	// Err is set when the spool could not be listed at all.
	Err error
}

// Count is the number of entries with status st.
func (r Result) Count(st Status) int {
	n := 0
	for _, o := range r.Entries {
		if o.Status == st {
			n++
		}
	}
	return n
}

// Retryable reports whether a later pass could deliver something this one
// could not.
func (r Result) Retryable() bool { return r.Err != nil || r.Count(Failed) > 0 }

// ShipPending ships every entry whose owner is gone: finished entries whose
// upload failed, and live entries of shims that died (shipped as
// incomplete). The entry lock makes each one ship once however many shims
// and briskctl flush runs look at the spool at the same time. Entries that
// can never ship are quarantined, so that no pass tries them again.
func (s *Shipper) ShipPending(ctx context.Context) Result {
	var res Result
	dirs, err := spool.Pending(s.cfg.SpoolDir)
	if err != nil {
		res.Err = fmt.Errorf("list spool %s: %w", s.cfg.SpoolDir, err)
		return res
	}
	for _, dir := range dirs {
		res.Entries = append(res.Entries, s.ShipEntry(ctx, dir))
	}
	return res
}

// ShipEntry ships the entry in dir unless its owner lives, quarantining it
// if it can never ship.
func (s *Shipper) ShipEntry(ctx context.Context, dir string) Outcome {
	claim, err := spool.Lock(dir)
	switch {
	case errors.Is(err, spool.ErrLocked):
		return Outcome{Dir: dir, Status: Owned}
	case errors.Is(err, spool.ErrGone):
		return Outcome{Dir: dir, Status: Gone}
	case err != nil:
		return Outcome{Dir: dir, Status: Failed, Err: err}
	}
	defer claim.Release()
	m, err := s.ship(ctx, claim)
	switch {
	case err == nil:
		return Outcome{Dir: dir, Status: Shipped, Meta: m}
	case store.IsPermanent(err):
		if qerr := claim.Quarantine(err.Error()); qerr != nil {
			return Outcome{Dir: dir, Status: Failed, Err: errors.Join(err, qerr), Meta: m}
		}
		return Outcome{Dir: claim.Dir(), Status: Quarantined, Err: err, Meta: m}
	}
	return Outcome{Dir: dir, Status: Failed, Err: err, Meta: m}
}
