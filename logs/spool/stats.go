package spool

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Stats summarises a spool for monitoring: a count of finished entries that
// stays up, or an oldest one that keeps ageing, means logs are not reaching
// the store.
type Stats struct {
	Live  int   // entries of running tasks, or of shims that died
	Done  int   // finished entries waiting to be shipped
	Bytes int64 // log bytes held, all entries
	// OldestDone is the exit time of the oldest entry waiting to be
	// shipped; zero when none waits.
	OldestDone time.Time
	// Quarantined counts entries set aside because they can never ship.
	Quarantined int
}

// ReadStats reads the spool under spoolDir without taking any entry's lock,
// so that monitoring never delays a shipper. A spool that does not exist yet
// is empty.
func ReadStats(spoolDir string) (Stats, error) {
	var st Stats
	dirs, err := Pending(spoolDir)
	if err != nil {
		return st, err
	}
	q, err := Quarantined(spoolDir)
	if err != nil {
		return st, err
	}
	st.Quarantined = len(q)
	files := append([]string{LogFile}, TailFiles[:]...)
	for _, dir := range dirs {
		m, err := ReadMeta(dir)
		if err != nil {
			continue // shipped and removed while we looked
		}
		for _, name := range files {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
				st.Bytes += fi.Size()
			} else if !errors.Is(err, fs.ErrNotExist) {
				return st, err
			}
		}
		if m.State != StateDone {
			st.Live++
			continue
		}
		st.Done++
		if st.OldestDone.IsZero() || m.Exited.Before(st.OldestDone) {
			st.OldestDone = m.Exited
		}
	}
	return st, nil
}

// DiskBytes is what the spool takes on its file system: every file under
// spoolDir, entries, their tail segments and metadata, and those being made,
// removed or quarantined; the capture FIFOs, which hold nothing on disk,
// aside. It is what max_bytes bounds, per entry.
func DiskBytes(spoolDir string) int64 {
	var n int64
	_ = filepath.WalkDir(spoolDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // removed while we looked
		}
		if d.IsDir() && path == filepath.Join(spoolDir, fifoDir) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
