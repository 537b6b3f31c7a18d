package spool

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Layout of spool_dir. Only this package builds paths under it:
//
//	NAMESPACE/ID@RUN/       one entry per run of a task: meta.json, log, tail.*
//	.new/RANDOM/            an entry being created; renamed into place whole
//	.trash/RANDOM/          an entry being removed; renamed out of place whole
//	.quarantine/NAMESPACE/ID@RUN/  an entry that can never ship, with its reason
//	.fifo/NAMESPACE/ID@RUN/ the capture FIFOs of a running task
//	.retrier                the node retrier's lease and back-off state
//
// Entries appear and disappear only by rename(2), so a reader never sees a
// half-made or half-removed one, and a lock held on an entry directory is
// checked against the path after it is taken (see Claim).
const (
	newDir        = ".new"
	trashDir      = ".trash"
	quarantineDir = ".quarantine"
	fifoDir       = ".fifo"
	retrierFile   = ".retrier"
)

// runSep separates an entry's escaped ID from its run. EscapeName escapes
// it, so the last one in a name is always the separator.
const runSep = "@"

// MaxIDLength bounds a log ID, escaped as it is in an entry's name: with
// the run it must fit a file name (255 bytes) in the spool and under
// local_dir, and an S3 key (1024 bytes) with prefix and namespace.
const MaxIDLength = 200

// ValidateID refuses an ID no entry could be made for. It runs at task
// creation, so that an ID is refused once, by name, rather than failing on
// every upload.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("log ID is empty")
	}
	if n := len(EscapeName(id)); n > MaxIDLength {
		return fmt.Errorf("log ID %q is %d bytes once escaped, more than the limit of %d", abbreviate(id), n, MaxIDLength)
	}
	return nil
}

func abbreviate(s string) string {
	if len(s) > 64 {
		return s[:48] + "..." + s[len(s)-13:]
	}
	return s
}

// runPattern is the form of a run name: its start time, sortable as text,
// and a tag that tells apart runs started in the same microsecond.
var runPattern = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-z]{8}$`)

// NewRun names a run started at t. tag, when at least 8 letters or digits
// (a pod UID), ends the name so the name says which pod ran; else the end is
// random.
func NewRun(t time.Time, tag string) string {
	tag = strings.ToLower(strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, tag))
	if len(tag) < 8 {
		var b [4]byte
		_, _ = rand.Read(b[:])
		tag = hex.EncodeToString(b[:])
	}
	return t.UTC().Format("20060102T150405.000000Z") + "-" + tag[:8]
}

// IsRun reports whether s is a run name made by NewRun.
func IsRun(s string) bool { return runPattern.MatchString(s) }

// entryName is the directory name of a run of id.
func entryName(id, run string) string { return EscapeName(id) + runSep + run }

// parseEntryName splits an entry directory name into ID and run.
func parseEntryName(name string) (id, run string, ok bool) {
	i := strings.LastIndex(name, runSep)
	if i < 0 || !IsRun(name[i+1:]) {
		return "", "", false
	}
	id, err := UnescapeName(name[:i])
	if err != nil {
		return "", "", false
	}
	return id, name[i+1:], true
}

// EntryDir is the directory of one run of (namespace, id) under spoolDir.
func EntryDir(spoolDir, namespace, id, run string) string {
	return filepath.Join(spoolDir, EscapeName(namespace), entryName(id, run))
}

// FifoDir is where the capture FIFOs of the run in entryDir live: beside
// the entries, never inside one, and per run, so that a newer run of the
// same container ID never shares them.
func FifoDir(entryDir string) string {
	spoolDir := filepath.Dir(filepath.Dir(entryDir))
	return filepath.Join(spoolDir, fifoDir, filepath.Base(filepath.Dir(entryDir)), filepath.Base(entryDir))
}

// LogPath is the log file of the entry in dir.
func LogPath(dir string) string { return filepath.Join(dir, LogFile) }

// RunRef names one run of a log ID found in the spool.
type RunRef struct {
	Namespace, ID, Run string
	Dir                string
}

// Runs lists the runs of (namespace, id) in the spool, oldest first.
func Runs(spoolDir, namespace, id string) ([]RunRef, error) {
	refs, err := list(filepath.Join(spoolDir, EscapeName(namespace)), namespace)
	if err != nil {
		return nil, err
	}
	var out []RunRef
	for _, r := range refs {
		if r.ID == id {
			out = append(out, r)
		}
	}
	return out, nil
}

// IDs lists the log IDs with a run in the spool under namespace.
func IDs(spoolDir, namespace string) ([]string, error) {
	refs, err := list(filepath.Join(spoolDir, EscapeName(namespace)), namespace)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, r := range refs {
		if !seen[r.ID] {
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// list reads the entries of one namespace directory, sorted by ID then run.
func list(nsDir, namespace string) ([]RunRef, error) {
	names, err := os.ReadDir(nsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var refs []RunRef
	for _, n := range names {
		if id, run, ok := parseEntryName(n.Name()); ok && n.IsDir() {
			refs = append(refs, RunRef{Namespace: namespace, ID: id, Run: run, Dir: filepath.Join(nsDir, n.Name())})
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].ID != refs[j].ID {
			return refs[i].ID < refs[j].ID
		}
		return refs[i].Run < refs[j].Run
	})
	return refs, nil
}

// tombstone is a fresh name under .trash for an entry being removed.
func tombstone(spoolDir string) (string, error) {
	dir := filepath.Join(spoolDir, trashDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return filepath.Join(dir, hex.EncodeToString(b[:])), nil
}

// spoolDirOf is the spool_dir of an entry directory.
func spoolDirOf(entryDir string) string { return filepath.Dir(filepath.Dir(entryDir)) }

// staleNew is how old an entry being created must be to be a crashed
// shim's: creation takes microseconds.
const staleNew = 10 * time.Minute

// Sweep removes what crashed processes left: entries whose removal was cut
// short (.trash), entries whose creation was (.new, once stale), and FIFO
// directories whose entry is gone. It never touches an entry.
func Sweep(spoolDir string) error {
	var errs []error
	trash, _ := os.ReadDir(filepath.Join(spoolDir, trashDir))
	for _, t := range trash {
		errs = append(errs, os.RemoveAll(filepath.Join(spoolDir, trashDir, t.Name())))
	}
	fresh, _ := os.ReadDir(filepath.Join(spoolDir, newDir))
	for _, n := range fresh {
		if fi, err := n.Info(); err == nil && time.Since(fi.ModTime()) > staleNew {
			errs = append(errs, os.RemoveAll(filepath.Join(spoolDir, newDir, n.Name())))
		}
	}
	nss, _ := os.ReadDir(filepath.Join(spoolDir, fifoDir))
	for _, ns := range nss {
		runs, _ := os.ReadDir(filepath.Join(spoolDir, fifoDir, ns.Name()))
		for _, r := range runs {
			if _, err := os.Lstat(filepath.Join(spoolDir, ns.Name(), r.Name())); errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, os.RemoveAll(filepath.Join(spoolDir, fifoDir, ns.Name(), r.Name())))
			}
		}
	}
	return errors.Join(errs...)
}

// IsEntryOf says whether dir names an entry directory of spoolDir:
// spool_dir/NAMESPACE/ENTRY, nothing above, below or beside it. A
// hand-off names its entry with it, and may name anything.
func IsEntryOf(spoolDir, dir string) bool {
	rel, err := filepath.Rel(spoolDir, dir)
	if err != nil || !filepath.IsLocal(rel) || filepath.Clean(dir) != dir {
		return false
	}
	parts := strings.Split(rel, string(filepath.Separator))
	return len(parts) == 2 && !strings.HasPrefix(parts[0], ".") && !strings.HasPrefix(parts[1], ".")
}
