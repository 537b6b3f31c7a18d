package spool

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Record is one decoded log record.
type Record struct {
	Time    time.Time
	Stream  Stream
	Partial bool // content continues in the next record of the stream
	Content []byte
}

// ParseRecord decodes one CRI log line (without its trailing newline).
func ParseRecord(line []byte) (Record, error) {
	var r Record
	parts := bytes.SplitN(line, []byte{' '}, 4)
	if len(parts) < 3 {
		return r, fmt.Errorf("not a CRI log record: %q", truncate(line))
	}
	t, err := time.Parse(time.RFC3339Nano, string(parts[0]))
	if err != nil {
		return r, fmt.Errorf("bad record time %q", parts[0])
	}
	r.Time, r.Stream = t, Stream(parts[1])
	switch string(parts[2]) {
	case "P":
		r.Partial = true
	case "F":
	default:
		return r, fmt.Errorf("bad record tag %q", parts[2])
	}
	if len(parts) == 4 {
		r.Content = parts[3]
	}
	return r, nil
}

func truncate(b []byte) []byte {
	if len(b) > 80 {
		return b[:80]
	}
	return b
}

// Bytes is the raw output a record stands for: its content, plus the
// newline a full record ended with.
func (r Record) Bytes() []byte {
	if r.Partial {
		return r.Content
	}
	return append(bytes.Clone(r.Content), '\n')
}

// Decode reads records from rd and calls fn for each. Only whole lines are
// records: a line still being written is left for the next read.
func Decode(rd io.Reader, fn func(Record) error) error {
	br := bufio.NewReaderSize(rd, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		r, perr := ParseRecord(line[:len(line)-1])
		if perr != nil {
			return perr
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// Pending lists the entry directories under spoolDir: finished ones not yet
// shipped and live ones, whose owner may be dead (Lock tells).
func Pending(spoolDir string) ([]string, error) {
	nss, err := os.ReadDir(spoolDir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, ns := range nss {
		// Escaped namespaces never start with a dot; the spool's own
		// directories (.new, .trash, .fifo, .quarantine) do.
		if !ns.IsDir() || strings.HasPrefix(ns.Name(), ".") {
			continue
		}
		namespace, err := UnescapeName(ns.Name())
		if err != nil {
			continue
		}
		refs, err := list(filepath.Join(spoolDir, ns.Name()), namespace)
		if err != nil {
			continue
		}
		for _, r := range refs {
			dirs = append(dirs, r.Dir)
		}
		dirs = append(dirs, legacyEntries(filepath.Join(spoolDir, ns.Name()))...)
	}
	return dirs, nil
}

// legacyEntries are the entries an earlier version left, one per ID with no
// run in their name: shipped like any other, with a run derived from them.
func legacyEntries(nsDir string) []string {
	names, _ := os.ReadDir(nsDir)
	var dirs []string
	for _, n := range names {
		if _, _, ok := parseEntryName(n.Name()); ok || !n.IsDir() {
			continue
		}
		dir := filepath.Join(nsDir, n.Name())
		if _, err := os.Stat(filepath.Join(dir, MetaFile)); err == nil {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// LegacyRun is the run of an entry an earlier version made, which names
// none: the same for every retry of it, so that it ships to one key.
func LegacyRun(m Meta) string { return NewRun(m.Started, "legacy00") }
