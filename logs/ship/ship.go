package ship

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// Store is where logs go. Get returns ErrNotFound (wrapped) for a key that
// holds nothing. Put marks a failure no retry can cure Permanent, as only
// the store knows which of its errors are (an errno of the file system is
// one thing under local_dir and another from an S3 client's network);
// Ship also reads S3 error codes from any store's errors (classify).
type Store interface {
	// Put stores body, read once to its end, as key. A body that is an
	// *io.SectionReader has a known size and can be read again. meta's
	// values are as Metadata makes them: printable ASCII.
	Put(ctx context.Context, key string, body io.Reader, meta map[string]string, contentEncoding string) error
	Get(ctx context.Context, key string) (body []byte, meta map[string]string, err error)
	// List calls page with the keys that start with prefix and sort
	// after startAfter ("" for all), in ascending order, one page at a
	// time, until page returns false or the keys run out. more says
	// whether another page follows.
	List(ctx context.Context, prefix, startAfter string, page func(keys []string, more bool) bool) error
	String() string
}

// Shipper ships spool entries to a Store.
type Shipper struct {
	cfg   config.Logs
	store Store
}

// Opt configures a Shipper.
type Opt func(*Shipper)

// WithStore delivers to st instead of the store cfg names (tests, tools).
func WithStore(st Store) Opt { return func(s *Shipper) { s.store = st } }

// New builds the shipper for cfg: S3 when a bucket is set, local_dir else.
// It does not contact S3: a shim must start even while S3 is down.
func New(ctx context.Context, cfg config.Logs, opts ...Opt) (*Shipper, error) {
	s := &Shipper{cfg: cfg}
	for _, o := range opts {
		o(s)
	}
	switch {
	case s.store != nil:
	case cfg.S3.Bucket == "":
		s.store = &LocalStore{Dir: cfg.LocalDir}
	default:
		// The client is built at the first upload: a shim starts on the
		// path of a task's create, and the SDK's configuration costs
		// ~2 ms of CPU there, paid by every task of a burst at once.
		s.store = &S3Store{cfg: cfg.S3}
	}
	return s, nil
}

// Store returns where the shipper delivers.
func (s *Shipper) Store() Store { return s.store }

// KeyFor is the object key of one run of (namespace, id): every run has its
// own, so no run overwrites another and every retry of a run's upload
// writes the same one.
func (s *Shipper) KeyFor(namespace, id, run string) string {
	return Key(s.cfg.S3.Key, s.cfg.S3.Prefix, namespace, RunID(id, run))
}

// RunID is what {id} expands to for a run: the ID, "@", the run.
func RunID(id, run string) string { return id + "@" + run }

// Ship uploads the claimed entry and removes it from the spool. A live entry
// (its shim died) ships as incomplete. An error that no retry can cure is
// Permanent.
func (s *Shipper) Ship(ctx context.Context, c *spool.Claim) error {
	_, err := s.ship(ctx, c)
	return err
}

// ship is Ship, also giving the metadata the entry shipped with (nil when
// meta.json could not be read).
func (s *Shipper) ship(ctx context.Context, c *spool.Claim) (*spool.Meta, error) {
	dir := c.Dir()
	m, err := spool.ReadMeta(dir)
	if err != nil {
		return nil, metaError(err)
	}
	if m.Run == "" {
		m.Run = spool.LegacyRun(m)
	}
	body, encoding, err := s.openBody(dir, m)
	if errors.Is(err, fs.ErrNotExist) {
		return &m, Permanent(err) // no log file: no retry makes one
	}
	if err != nil {
		return &m, err
	}
	defer body.Close()
	if m.State != spool.StateDone {
		m.Complete = false
	}
	key := s.KeyFor(m.Namespace, m.ID, m.Run)
	if err := s.store.Put(ctx, key, body.Reader, Metadata(m), encoding); err != nil {
		return &m, classify(fmt.Errorf("ship %s/%s run %s to %s: %w", m.Namespace, m.ID, m.Run, s.store, err))
	}
	return &m, c.Remove()
}
