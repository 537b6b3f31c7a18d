package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/brisk-containers/brisk/logs/store"
)

// leaseKey is the compactor's lease, under the prefix.
const leaseKey = Dir + "lease"

// leaseBody is the lease object: who compacts, in which epoch, until
// when, and how far the roll-ups went. Every write of it is conditional
// (If-None-Match for the first, If-Match of the version read after), so
// two daemons that both see it lapse make one epoch each, one after the
// other, never the same.
type leaseBody struct {
	Holder  string    `json:"holder"`
	Epoch   int64     `json:"epoch"`
	Expires time.Time `json:"expires"`
	// Rolled is, per tier, the start of the last period rolled up into
	// it.
	Rolled map[string]time.Time `json:"rolled,omitempty"`
	// Indexed is when the holder last indexed what the bucket held: a
	// daemon taking over lists the batches from there on, however long
	// no compactor ran.
	Indexed time.Time `json:"indexed,omitzero"`
}

// lease is what the holder knows of its lease.
type lease struct {
	body    leaseBody
	etag    string
	renewed time.Time
}

// errLost: another daemon holds the lease, or took it over.
var errLost = errors.New("the compactor lease is held by another brisk-logd")

// readLease reads the lease; a zero lease and no error when there is
// none.
func readLease(ctx context.Context, st store.Conditional, prefix string) (leaseBody, string, error) {
	o, err := st.Read(store.WithPurpose(ctx, store.PurposeLease), prefix+leaseKey)
	if errors.Is(err, store.ErrNotFound) {
		return leaseBody{}, "", nil
	}
	if err != nil {
		return leaseBody{}, "", err
	}
	var b leaseBody
	if err := json.Unmarshal(o.Body, &b); err != nil {
		// Unreadable: taken over as if lapsed, at a new epoch.
		return leaseBody{Holder: "?", Expires: time.Time{}}, o.ETag, nil
	}
	return b, o.ETag, nil
}

// acquire takes the lease if it is free or lapsed: a lapsed lease is one
// whose expiry passed by more than skew, the clock difference between
// nodes that is tolerated. While another holds it, held is its expiry.
func acquire(ctx context.Context, st store.Conditional, prefix, node string, ttl, skew time.Duration, now time.Time) (_ *lease, held time.Time, _ error) {
	cur, etag, err := readLease(ctx, st, prefix)
	if err != nil {
		return nil, time.Time{}, err
	}
	if etag != "" && now.Before(cur.Expires.Add(skew)) {
		return nil, cur.Expires, fmt.Errorf("%w (%s, epoch %d, until %s)", errLost, cur.Holder, cur.Epoch, cur.Expires.Format(time.RFC3339))
	}
	next := leaseBody{Holder: node, Epoch: cur.Epoch + 1, Expires: now.Add(ttl), Rolled: cur.Rolled, Indexed: cur.Indexed}
	data, _ := json.Marshal(next)
	ctx = store.WithPurpose(ctx, store.PurposeLease)
	var newETag string
	if etag == "" {
		newETag, err = st.Create(ctx, prefix+leaseKey, data)
	} else {
		newETag, err = st.Replace(ctx, prefix+leaseKey, data, etag)
	}
	if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrConflict) {
		return nil, now.Add(ttl), fmt.Errorf("%w: taken while we took it", errLost)
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	return &lease{body: next, etag: newETag, renewed: now}, time.Time{}, nil
}

// renew extends the lease, and records the roll-ups; errLost if another
// daemon took it.
func (l *lease) renew(ctx context.Context, st store.Conditional, prefix string, ttl time.Duration, now time.Time) error {
	next := l.body
	next.Expires = now.Add(ttl)
	data, _ := json.Marshal(next)
	etag, err := st.Replace(store.WithPurpose(ctx, store.PurposeLease), prefix+leaseKey, data, l.etag)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: the lease changed since epoch %d renewed it", errLost, l.body.Epoch)
	}
	if err != nil {
		return err
	}
	l.body, l.etag, l.renewed = next, etag, now
	return nil
}

// valid says whether the holder may still write at now: until skew
// before its expiry, so that a daemon whose clock is behind by up to
// skew, taking over at expiry+skew by its own clock, never writes at the
// same time.
func (l *lease) valid(now time.Time, skew time.Duration) bool {
	return now.Before(l.body.Expires.Add(-skew))
}

// InUse says whether the bucket under prefix has a batch index: whether
// any brisk-logd ever compacted it (one read of the lease). Under
// per-task upload, a lookup asks the index only then.
func InUse(ctx context.Context, st store.Conditional, prefix string) (bool, error) {
	_, etag, err := readLease(ctx, st, prefix)
	return etag != "", err
}
