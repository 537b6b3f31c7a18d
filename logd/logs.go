package logd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/containerd/containerd/v2/pkg/identifiers"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// Sources of an answer, in the Brisk-Source header.
const (
	SourceSpool = "spool"
	SourceStore = "store"
	SourcePeer  = "peer"
)

// errCaughtUp stops a read that wants only what is there now.
var errCaughtUp = errors.New("caught up")

// serveLogs is GET /v1/logs/{namespace}/{id}.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request, c caller) {
	ns, id := r.PathValue("namespace"), r.PathValue("id")
	if err := checkName(ns, id); err != nil {
		deny(w, http.StatusBadRequest, "%v", err)
		return
	}
	if !c.allows(ns) {
		deny(w, http.StatusForbidden, "this token may not read namespace %q", ns)
		return
	}
	q, err := parseLogQuery(r.URL.Query(), time.Now())
	if err != nil {
		deny(w, http.StatusBadRequest, "%v", err)
		return
	}
	if q.follow {
		select {
		case s.follows <- struct{}{}:
			defer func() { <-s.follows }()
		default:
			w.Header().Set("Retry-After", "5")
			deny(w, http.StatusServiceUnavailable, "this node serves %d followers already (logs.api.max_followers)", cap(s.follows))
			return
		}
	}
	ctx := r.Context()
	found, err := s.locate(ctx, ns, id, q.local, c, q.run != "")
	if len(found.unreachable) > 0 {
		w.Header().Set("Brisk-Unreachable-Peers", strings.Join(found.unreachable, ","))
	}
	w.Header().Set("Brisk-Node", s.node)
	if len(found.runs) == 0 && q.local && q.run != "" && err == nil {
		// A peer sent us here for a run our spool shipped meanwhile.
		found.runs = []located{{Run: ship.Run{Run: q.run, Key: s.shipper.KeyFor(ns, id, q.run)}}}
	}
	if len(found.runs) == 0 {
		if err != nil {
			deny(w, http.StatusServiceUnavailable, "task %q in namespace %q: %v", id, ns, err)
			return
		}
		deny(w, http.StatusNotFound, "no task %q in namespace %q: %s", id, ns, found.where())
		return
	}
	run, err := pickRun(found.runs, q.run)
	if err != nil {
		deny(w, http.StatusNotFound, "task %q in namespace %q: %v", id, ns, err)
		return
	}
	switch {
	case run.Dir != "":
		s.fromSpool(ctx, w, q, run)
	case run.peer != "":
		s.fromPeer(ctx, w, r, c, run)
	default:
		s.fromStore(ctx, w, q, run.Run, 0, newOutput(w, q))
	}
}

// checkName refuses a namespace containerd would refuse, and an ID no
// task has. Neither reaches a path unescaped (the spool escapes both), so
// this is for clear answers, not for safety.
func checkName(ns, id string) error {
	if err := identifiers.Validate(ns); err != nil {
		return fmt.Errorf("namespace %q: %w", ns, err)
	}
	if id == "" || len(id) > 1024 || strings.ContainsAny(id, "\x00\n") {
		return fmt.Errorf("task ID %q: want 1 to 1024 characters, no NUL or newline", id)
	}
	return nil
}

// pickRun is the run asked for: by name, by number (1 the oldest), or the
// latest.
func pickRun(runs []located, want string) (located, error) {
	if want == "" {
		return runs[len(runs)-1], nil
	}
	if i := slices.IndexFunc(runs, func(r located) bool { return r.Run.Run == want }); i >= 0 {
		return runs[i], nil
	}
	n, err := strconv.Atoi(want)
	if err != nil || n < 1 || n > len(runs) {
		return located{}, fmt.Errorf("run=%q: it has %d runs (1 is the oldest; or give a run's name)", want, len(runs))
	}
	return runs[n-1], nil
}

// fromSpool answers from this node's spool, and from the store for what
// follows once the entry is shipped while being read.
func (s *Server) fromSpool(ctx context.Context, w http.ResponseWriter, q logQuery, run located) {
	w.Header().Set("Brisk-Source", SourceSpool)
	o := newOutput(w, q)
	fn := o.record
	if !q.follow {
		fn = func(line []byte) error {
			if line == nil {
				return errCaughtUp
			}
			return o.record(line)
		}
	}
	res, err := spool.FollowLog(ctx, run.Dir, 0, fn)
	switch {
	case errors.Is(err, errCaughtUp):
		o.end(nil, nil) // live, and not followed: what there is now
	case err != nil:
		if ctx.Err() == nil {
			log.G(ctx).WithError(err).WithField("entry", run.Dir).Warn("read a spool entry")
		}
		o.end(nil, err)
	case res.End == spool.Finished:
		m := res.Meta
		o.end(&exitInfo{Code: m.ExitCode, Started: m.Started, Exited: m.Exited, Complete: m.Complete}, nil)
	case res.End == spool.Gone:
		// Shipped while read: the object holds the same bytes, and
		// the rest from where the spool left off.
		s.fromStore(ctx, w, q, run.Run, res.Offset, o)
	}
}

// fromStore answers from the stored object of run, from offset on (the
// bytes a reader of the spool already passed on).
func (s *Server) fromStore(ctx context.Context, w http.ResponseWriter, q logQuery, run ship.Run, offset int64, o *output) {
	if offset == 0 {
		w.Header().Set("Brisk-Source", SourceStore)
	}
	if run.Batch != nil && run.Batch.Rebuilt {
		log.G(ctx).WithFields(log.Fields{"batch": run.Key, "run": run.Run}).Warn("batch mode: a batch's trailer is corrupt (CRC-32C): the run was found by its gzip member's header, without its metadata")
		w.Header().Set("Brisk-Warning", "the trailer of batch "+run.Key+" is corrupt: exit code and figures unknown")
	}
	body, meta, err := s.getShipped(ctx, run)
	if err != nil {
		if offset == 0 {
			status := http.StatusServiceUnavailable
			if errors.Is(err, store.ErrNotFound) {
				status = http.StatusNotFound
			}
			deny(w, status, "read %s from %s: %v", run.Key, s.shipper.Store(), err)
			return
		}
		o.end(nil, fmt.Errorf("the spool entry was shipped while read, and the rest of %s cannot be read from %s: %w", run.Key, s.shipper.Store(), err))
		return
	}
	if offset > int64(len(body)) {
		o.end(nil, fmt.Errorf("%s in %s holds %d bytes, fewer than the %d read from the spool", run.Key, s.shipper.Store(), len(body), offset))
		return
	}
	rest := body[offset:]
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		if err := o.record(rest[:i+1]); err != nil {
			o.end(nil, err)
			return
		}
		rest = rest[i+1:]
	}
	o.end(exitFromMetadata(meta), nil)
}

// getShipped reads a shipped object. An entry leaves the spool right
// after its upload returns: a store that shows new objects late (some S3
// implementations list and read after a delay) gets a few tries.
func (s *Server) getShipped(ctx context.Context, run ship.Run) ([]byte, map[string]string, error) {
	var err error
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		var body []byte
		var meta map[string]string
		body, meta, err = s.shipper.ReadRun(ctx, run)
		if err == nil || !errors.Is(err, store.ErrNotFound) || wait > 800*time.Millisecond {
			return body, meta, err
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// exitFromMetadata is a run's end as its object's metadata records it.
func exitFromMetadata(meta map[string]string) *exitInfo {
	code, err := strconv.Atoi(ship.DecodeMetaValue(meta["brisk-exit-code"]))
	if err != nil {
		return nil
	}
	e := &exitInfo{Code: code, Complete: ship.DecodeMetaValue(meta["brisk-complete"]) == "true"}
	e.Started, _ = time.Parse(time.RFC3339, ship.DecodeMetaValue(meta["brisk-started"]))
	e.Exited, _ = time.Parse(time.RFC3339, ship.DecodeMetaValue(meta["brisk-exited"]))
	return e
}
