// Package store is where Brisk's logs are kept: an S3 bucket (S3), or
// files under logs.local_dir (Local) on a node with no bucket. Each store
// is one file here, as Loki keeps one object client per backend; what the
// log pipeline asks of a store is the interface below, and what batch mode
// asks on top of it (conditional writes, ranged reads) is Conditional.
//
// Every S3 request is counted by operation and purpose (WithRequests,
// WithPurpose): requests are what a log bill is made of.
package store

import (
	"context"
	"io"
)

// Store is where logs go. Get returns ErrNotFound (wrapped) for a key that
// holds nothing. Put marks a failure no retry can cure Permanent, as only
// the store knows which of its errors are (an errno of the file system is
// one thing under local_dir and another from an S3 client's network).
type Store interface {
	// Put stores body, read once to its end, as key. A body that is an
	// *io.SectionReader has a known size and can be read again. meta's
	// values are printable ASCII.
	Put(ctx context.Context, key string, body io.Reader, meta map[string]string, contentEncoding string) error
	// Get reads an object whole, undoing a gzip content encoding.
	Get(ctx context.Context, key string) (body []byte, meta map[string]string, err error)
	// List calls page with the keys that start with prefix and sort
	// after startAfter ("" for all), in ascending order, one page at a
	// time, until page returns false or the keys run out. more says
	// whether another page follows.
	List(ctx context.Context, prefix, startAfter string, page func(keys []string, more bool) bool) error
	String() string
}

// Conditional is a store with what batch mode needs: writes that happen
// only if the object is absent, or still the version the writer read, and
// reads of a byte range. S3 has them (If-None-Match, If-Match, Range);
// a store that ignores the conditions is found out by Probe.
type Conditional interface {
	Store
	// Create stores body as key only if no object is stored under it:
	// ErrExists (wrapped) if one is. It returns the new object's ETag.
	Create(ctx context.Context, key string, body []byte) (etag string, err error)
	// Replace stores body as key only if the object stored under it has
	// ETag etag: ErrConflict (wrapped) if another version is, or none.
	Replace(ctx context.Context, key string, body []byte, etag string) (newETag string, err error)
	// ReadRange reads length bytes of key from offset, or with offset < 0
	// its last -offset bytes (length ignored), as stored (no content
	// decoding).
	ReadRange(ctx context.Context, key string, offset, length int64) (Object, error)
	// Read reads key whole, as stored, with its ETag.
	Read(ctx context.Context, key string) (Object, error)
	// Delete removes key; removing an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// Object is what a read returned.
type Object struct {
	Body []byte
	ETag string
	Size int64 // the whole object's size, not the range's
}
