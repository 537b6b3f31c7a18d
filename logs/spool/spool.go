// Package spool keeps each running task's log in a file on fast local storage
// (spool_dir, a tmpfs on most hosts), readable and followable while the task
// runs, finalised atomically when it exits, and left in place until it has
// been shipped: the spool is what makes "nothing lost" hold when S3 is down
// or the shim dies.
//
// Records use the CRI log format, `TIMESTAMP STREAM P|F CONTENT`, so the tools
// that read Kubernetes container logs read Brisk's too.
package spool

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/brisk-containers/brisk/internal/atomicfile"
	"github.com/brisk-containers/brisk/internal/usage"
)

// Stream names a record's origin.
type Stream string

const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Entry states, as recorded in meta.json.
const (
	StateLive = "live" // the task runs (or its shim died while it ran)
	StateDone = "done" // finalised, waiting to be shipped
)

// Files of an entry directory.
const (
	LogFile  = "log"
	MetaFile = "meta.json"
)

// Meta describes an entry; it becomes the shipped object's metadata.
type Meta struct {
	Namespace string `json:"namespace"`
	ID        string `json:"id"` // log ID: container ID or brisk.io/task-id
	// Run tells this run of the ID from every other (NewRun); it names the
	// entry and the object, so every retry of its upload writes one key.
	Run string `json:"run"`
	// Pod is the Kubernetes pod UID (or sandbox ID) the run belongs to.
	Pod         string    `json:"pod,omitempty"`
	ContainerID string    `json:"container_id"`
	Node        string    `json:"node"`
	State       string    `json:"state"`
	Started     time.Time `json:"started"`
	Exited      time.Time `json:"exited,omitempty"`
	ExitCode    int       `json:"exit_code"`
	Complete    bool      `json:"complete"`
	StdoutBytes int64     `json:"stdout_bytes"`
	StderrBytes int64     `json:"stderr_bytes"`
	Truncated   int64     `json:"truncated_bytes"`
	// Lost counts output the spool could not take (spool_dir full or
	// failing); such a log is not complete.
	Lost       int64  `json:"lost_bytes,omitempty"`
	LostReason string `json:"lost_reason,omitempty"`
	// Usage is the task's writable layer at exit, when it was measured.
	Usage *usage.Layer `json:"usage,omitempty"`
	// Stats holds the task's cgroup summary at exit as metadata fields
	// (taskstats.Summary.Metadata: cpu-ns, memory-peak-bytes, ...).
	Stats map[string]string `json:"stats,omitempty"`
	// TailFrom and TailCopied are set, while the entry is still live, as
	// the tail segments are appended to the log at exit: TailFrom is the
	// log's size before the segments not yet appended, TailCopied the
	// segments appended (each freed once recorded here, to keep the entry
	// within max_bytes). Should the shim die before the entry is done, the
	// log is read up to TailFrom and the segments not copied, still on
	// disk, once: never twice, never lost.
	TailFrom   int64    `json:"tail_from,omitempty"`
	TailCopied []string `json:"tail_copied,omitempty"`
	// Tail is set once the head is full and at each rotation of the tail
	// segments, for a reader of a dead shim's entry: see TailState.
	Tail *TailState `json:"tail,omitempty"`
}

// EscapeName makes s a single safe path element, reversibly.
func EscapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '.' && i > 0:
			b.WriteByte(c) // a leading dot would make "." and ".." possible
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	if b.Len() == 0 {
		return "%"
	}
	return b.String()
}

// UnescapeName reverses EscapeName.
func UnescapeName(s string) (string, error) {
	if s == "%" {
		return "", nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		var c byte
		if _, err := fmt.Sscanf(s[i+1:i+3], "%02X", &c); err != nil {
			return "", fmt.Errorf("bad escape in %q", s)
		}
		b.WriteByte(c)
		i += 2
	}
	return b.String(), nil
}

// ReadMeta reads an entry's metadata.
func ReadMeta(dir string) (Meta, error) {
	var m Meta
	data, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("%s: %w", filepath.Join(dir, MetaFile), err)
	}
	return m, nil
}

// writeMeta replaces meta.json atomically: a reader sees the old or the new.
func writeMeta(dir string, m Meta, sync bool) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var opts []atomicfile.Opt
	if sync {
		opts = append(opts, atomicfile.WithSync())
	}
	return atomicfile.Write(filepath.Join(dir, MetaFile), data, 0o600, opts...)
}
