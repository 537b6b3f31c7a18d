package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/brisk-containers/brisk/internal/atomicfile"
)

// Services is the host's service manager, as far as the installer uses it.
// Every call returns once the host has done it.
type Services interface {
	// Reload makes the manager read changed unit files.
	Reload(ctx context.Context) error
	// EnableNow enables unit and starts it.
	EnableNow(ctx context.Context, unit string) error
	// Restart restarts unit.
	Restart(ctx context.Context, unit string) error
	// DisableNow disables unit, then stops it.
	DisableNow(ctx context.Context, unit string) error
}

// Systemd drives the host's systemd over its private D-Bus socket
// (/run/systemd/private, mounted into the pod), so the installer needs no
// systemctl binary and no host PID namespace.
type Systemd struct {
	conn *sddbus.Conn
}

// NewSystemd connects to the host's systemd.
func NewSystemd(ctx context.Context) (*Systemd, error) {
	conn, err := sddbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to systemd (is /run/systemd mounted?): %w", err)
	}
	return &Systemd{conn: conn}, nil
}

// Close closes the connection.
func (s *Systemd) Close() { s.conn.Close() }

func (s *Systemd) Reload(ctx context.Context) error { return s.conn.ReloadContext(ctx) }

func (s *Systemd) EnableNow(ctx context.Context, unit string) error {
	if _, _, err := s.conn.EnableUnitFilesContext(ctx, []string{unit}, false, true); err != nil {
		return fmt.Errorf("enable %s: %w", unit, err)
	}
	if err := s.conn.ReloadContext(ctx); err != nil {
		return err
	}
	return s.job(ctx, "start", unit, s.conn.StartUnitContext)
}

func (s *Systemd) Restart(ctx context.Context, unit string) error {
	return s.job(ctx, "restart", unit, s.conn.RestartUnitContext)
}

func (s *Systemd) DisableNow(ctx context.Context, unit string) error {
	if _, err := s.conn.DisableUnitFilesContext(ctx, []string{unit}, false); err != nil {
		return fmt.Errorf("disable %s: %w", unit, err)
	}
	if err := s.conn.ReloadContext(ctx); err != nil {
		return err
	}
	return s.job(ctx, "stop", unit, s.conn.StopUnitContext)
}

func (s *Systemd) job(ctx context.Context, what, unit string, fn func(context.Context, string, string, chan<- string) (int, error)) error {
	done := make(chan string, 1)
	if _, err := fn(ctx, unit, "replace", done); err != nil {
		return fmt.Errorf("%s %s: %w", what, unit, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("%s %s: job %s", what, unit, result)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", what, unit, ctx.Err())
	}
}

// RequestFiles hands each action to whoever serves a directory: it writes
// NNN.request ("ACTION UNIT") and waits for NNN.done, which holds "ok" or the
// error. It stands in for systemd where there is none — the end-to-end test
// plays the host's service manager this way — and shows exactly which
// actions an install asked for.
type RequestFiles struct {
	Dir     string
	Timeout time.Duration
}

func (r RequestFiles) Reload(ctx context.Context) error { return r.do(ctx, "daemon-reload", "") }
func (r RequestFiles) EnableNow(ctx context.Context, unit string) error {
	return r.do(ctx, "enable-now", unit)
}
func (r RequestFiles) Restart(ctx context.Context, unit string) error {
	return r.do(ctx, "restart", unit)
}
func (r RequestFiles) DisableNow(ctx context.Context, unit string) error {
	return r.do(ctx, "disable-now", unit)
}

func (r RequestFiles) do(ctx context.Context, action, unit string) error {
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return err
	}
	reqs, err := filepath.Glob(filepath.Join(r.Dir, "*"+requestSuffix))
	if err != nil {
		return err
	}
	base := r.base(len(reqs) + 1)
	if _, err := writeFile(base+requestSuffix, []byte(strings.TrimSpace(action+" "+unit)+"\n"), 0o644); err != nil {
		return err
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		data, err := os.ReadFile(base + answerSuffix)
		if err == nil && len(data) == 0 {
			// An answer being written by a server that does not write
			// through a rename: not an answer yet.
			err = fs.ErrNotExist
		}
		if err == nil {
			if msg := strings.TrimSpace(string(data)); msg != answerOK {
				return fmt.Errorf("%s %s: %s", action, unit, msg)
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: no answer in %s: %w", action, unit, r.Dir, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// The request files: NNN.request holds the action, NNN.done the answer.
const (
	requestSuffix = ".request"
	answerSuffix  = ".done"
	answerOK      = "ok"
)

func (r RequestFiles) base(n int) string { return filepath.Join(r.Dir, fmt.Sprintf("%03d", n)) }

// Pending returns the n-th request (counted from 1) for whoever serves the
// directory: "daemon-reload" or "ACTION UNIT". ok is false while there is
// none.
func (r RequestFiles) Pending(n int) (action string, ok bool, err error) {
	data, err := os.ReadFile(r.base(n) + requestSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return strings.TrimSpace(string(data)), true, nil
}

// Answer answers the n-th request: nil means it was carried out, an error
// fails it with the error's text.
func (r RequestFiles) Answer(n int, failed error) error {
	answer := answerOK
	if failed != nil {
		answer = failed.Error()
	}
	// Through a rename: the installer polls for the file, and must never
	// read it created but not yet written.
	return atomicfile.Write(r.base(n)+answerSuffix, []byte(answer+"\n"), 0o644)
}
