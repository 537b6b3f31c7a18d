//go:build linux

package snapshotter

import "sync"

// idLocks serialises what mounts, unmounts, reserves or releases one
// snapshot's upper: restoring a missing tmpfs must not race the Remove that
// releases it, or it mounts a tmpfs and books budget for a snapshot that no
// longer exists.
type idLocks struct {
	mu    sync.Mutex
	locks map[string]*idLock
}

type idLock struct {
	sync.Mutex
	refs int
}

// lock takes id's lock and returns its unlock.
func (l *idLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*idLock)
	}
	m, ok := l.locks[id]
	if !ok {
		m = &idLock{}
		l.locks[id] = m
	}
	m.refs++
	l.mu.Unlock()

	m.Lock()
	return func() {
		m.Unlock()
		l.mu.Lock()
		if m.refs--; m.refs == 0 {
			delete(l.locks, id)
		}
		l.mu.Unlock()
	}
}
