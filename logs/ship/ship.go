package ship

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

// Shipper ships spool entries to a Store.
type Shipper struct {
	cfg   config.Logs
	store store.Store
}

// Opt configures a Shipper.
type Opt func(*Shipper)

// WithStore delivers to st instead of the store cfg names (tests, tools).
func WithStore(st store.Store) Opt { return func(s *Shipper) { s.store = st } }

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
		s.store = &store.Local{Dir: cfg.LocalDir}
	default:
		s.store = store.NewS3(cfg.S3)
	}
	return s, nil
}

// Store returns where the shipper delivers.
func (s *Shipper) Store() store.Store { return s.store }

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
		return &m, store.Permanent(err) // no log file: no retry makes one
	}
	if err != nil {
		return &m, err
	}
	defer body.Close()
	if m.State != spool.StateDone {
		m.Complete = false
	}
	key := s.KeyFor(m.Namespace, m.ID, m.Run)
	if err := s.store.Put(store.WithPurpose(ctx, store.PurposeTask), key, body.Reader, Metadata(m), encoding); err != nil {
		return &m, store.Classify(fmt.Errorf("ship %s/%s run %s to %s: %w", m.Namespace, m.ID, m.Run, s.store, err))
	}
	return &m, c.Remove()
}
