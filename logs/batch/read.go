package batch

import (
	"context"
	"errors"
	"fmt"

	"github.com/brisk-containers/brisk/logs/store"
)

// TailRead is how many bytes a reader takes from a batch's end to get its
// footer and trailer in one request: the trailer of a full batch (a few
// hundred bytes a log) fits.
const TailRead = 64 << 10

// ReadTrailer reads a batch's trailer: one ranged read of its end, and a
// second when the trailer is larger than TailRead. A trailer whose CRC does
// not match is ErrCorrupt.
func ReadTrailer(ctx context.Context, st store.Conditional, key string) (*Trailer, error) {
	o, err := st.ReadRange(ctx, key, -TailRead, 0)
	if err != nil {
		return nil, err
	}
	t, crc, off, n, err := ParseTail(o.Body, o.Size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if t != nil {
		return t, nil
	}
	o, err = st.ReadRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	t, err = ParseTrailer(o.Body, crc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return t, nil
}

// Find lists the runs of (namespace, id) in the batch under key. A batch
// whose trailer is corrupt is read whole and its members listed from
// their own headers (Rebuild): rebuilt says so, and the runs found that
// way carry no metadata beyond their names.
func Find(ctx context.Context, st store.Conditional, key, namespace, id string) (found []Entry, rebuilt bool, err error) {
	t, err := ReadTrailer(ctx, st, key)
	entries := []Entry(nil)
	switch {
	case err == nil:
		entries = t.Entries
	case errors.Is(err, ErrCorrupt):
		o, rerr := st.Read(ctx, key)
		if rerr != nil {
			return nil, false, errors.Join(err, rerr)
		}
		entries, rebuilt = Rebuild(o.Body), true
	default:
		return nil, false, err
	}
	for _, e := range entries {
		if e.Meta.Namespace == namespace && e.Meta.ID == id {
			found = append(found, e)
		}
	}
	return found, rebuilt, nil
}

// ReadLog reads the log of entry e of the batch under key, uncompressed:
// one ranged read of its member, or of the object it is stored alone in.
func ReadLog(ctx context.Context, st store.Conditional, key string, e Entry) ([]byte, error) {
	var o store.Object
	var err error
	if e.Object != "" {
		o, err = st.Read(ctx, e.Object)
	} else {
		o, err = st.ReadRange(ctx, key, e.Offset, e.Length)
	}
	if err != nil {
		return nil, err
	}
	log, err := Decompress(o.Body)
	if err != nil {
		return nil, fmt.Errorf("log of %s/%s run %s in %s: %v: %w", e.Meta.Namespace, e.Meta.ID, e.Meta.Run, key, err, ErrCorrupt)
	}
	return log, nil
}
