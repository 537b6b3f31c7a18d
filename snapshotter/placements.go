//go:build linux

package snapshotter

import (
	"maps"
	"slices"

	"github.com/brisk-containers/brisk/snapshotter/upper"
)

// The in-memory books of fast uppers: where each live snapshot's upper is
// (placements) and which uppers no live snapshot owns but that are still in
// use (draining). The tmpfs pool's reservations change together with them,
// under s.mu, so that AuditBudget sees both or neither.

func (s *Snapshotter) placement(id string) upper.Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if rec, ok := s.placements[id]; ok {
		return rec
	}
	return upper.Record{Kind: upper.KindRoot}
}

// forget drops id's booking in b with the state that justified it.
func (s *Snapshotter) forget(id string, b upper.Backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b.Unreserve(id)
	delete(s.placements, id)
	delete(s.draining, id)
}

// drain keeps bytes booked for a tmpfs upper that no live snapshot owns but
// that is still in use; Cleanup retries releasing it.
func (s *Snapshotter) drain(id string, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tmpfs.AdoptBytes(id, bytes)
	delete(s.placements, id)
	s.draining[id] = bytes
}

// undrain takes back drain for a snapshot that is live after all.
func (s *Snapshotter) undrain(id string, rec upper.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.draining[id]; ok {
		delete(s.draining, id)
		s.placements[id] = rec
	}
}

func (s *Snapshotter) drainingIDs() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Collect(maps.Keys(s.draining))
}

// reserveNew books l in the tmpfs budget for the snapshot being created in
// the directory called name, before its ID is known.
func (s *Snapshotter) reserveNew(name string, l upper.Limits) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.tmpfs.Reserve(name, l); err != nil {
		return err
	}
	s.preparing[name] = l.Bytes
	return nil
}

// unreserveNew takes back reserveNew for a creation that failed.
func (s *Snapshotter) unreserveNew(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.preparing[name]; ok {
		s.tmpfs.Unreserve(name)
		delete(s.preparing, name)
	}
}

// adoptNew moves the booking made under name to the snapshot's ID, with its
// placement, once the transaction creating it has handed the ID out.
func (s *Snapshotter) adoptNew(name, id string, rec upper.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.preparing[name]; ok {
		s.tmpfs.Rekey(name, id)
		delete(s.preparing, name)
	}
	s.placements[id] = rec
}

func (s *Snapshotter) setPlacement(id string, rec upper.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec.Kind == upper.KindRoot {
		delete(s.placements, id)
		return
	}
	s.placements[id] = rec
}
