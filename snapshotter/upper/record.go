package upper

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/brisk-containers/brisk/internal/atomicfile"
)

// RecordName is the file, in a snapshot's directory on the persistent root,
// that remembers where its upper was placed. It lives on disk rather than in
// the snapshot labels because labels belong to the client (Update replaces
// them) and because after a reboot the tmpfs is gone but the record is not:
// it is what lets Mounts recreate an empty upper with the same limits.
const RecordName = "upper.json"

// Record is a snapshot's placement.
type Record struct {
	Kind     Kind   `json:"kind"`
	Limits   Limits `json:"limits"`
	Volatile bool   `json:"volatile,omitempty"`
	// Dir is the upper_dir of a profile that has its own; empty means the
	// default upper_dir.
	Dir string `json:"dir,omitempty"`
}

// WriteRecord stores r in dir atomically. It does not sync, so that Prepare
// costs one device flush (the metadata commit), not two.
func WriteRecord(dir string, r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, RecordName), data, 0o600); err != nil {
		return fmt.Errorf("write placement record: %w", err)
	}
	return nil
}

// WriteNewRecord stores r in dir, a directory nothing reads yet (a snapshot
// being created): in place, without the temporary file and rename that
// keep a live record whole, and without a sync.
func WriteNewRecord(dir string, r Record) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, RecordName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write placement record: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write placement record %s: %w", f.Name(), err)
	}
	return nil
}

// ReadRecord loads the record in dir. A snapshot without one is on the root.
func ReadRecord(dir string) (Record, error) {
	data, err := os.ReadFile(filepath.Join(dir, RecordName))
	if errors.Is(err, os.ErrNotExist) {
		return Record{Kind: KindRoot}, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("read placement record: %w", err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("placement record %s: %w", filepath.Join(dir, RecordName), err)
	}
	return r, nil
}
