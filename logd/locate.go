package logd

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// located is one run of an ID and where it can be read: this node's spool
// (Dir), a peer's spool (peer), or else the store (Key).
type located struct {
	ship.Run
	peer     string // the peer's base URL
	peerNode string
}

// lookup is where an ID was looked for and what was found.
type lookup struct {
	node        string
	runs        []located // oldest first
	askedPeers  []string
	unreachable []string
	store       string
	storeListed bool
}

func (l lookup) where() string {
	var b strings.Builder
	fmt.Fprintf(&b, "not in the spool of %s", l.node)
	if len(l.askedPeers) > 0 {
		fmt.Fprintf(&b, " nor of its peers %s", strings.Join(l.askedPeers, ", "))
	}
	if l.storeListed {
		fmt.Fprintf(&b, ", not in %s", l.store)
	}
	if len(l.unreachable) > 0 {
		fmt.Fprintf(&b, "; peers that did not answer: %s", strings.Join(l.unreachable, ", "))
	}
	return b.String()
}

// locate finds the runs of (ns, id): in this node's spool, then in its
// peers' spools, then in the store. A peer's hop (local) looks in this
// node's spool only. The latest run is looked for no further than where
// a live one is found: the store is listed only when no spool has it, or
// when every run is wanted.
func (s *Server) locate(ctx context.Context, ns, id string, local bool, c caller, wantAll bool) (lookup, error) {
	l := lookup{node: s.node, store: s.shipper.Store().String()}
	runs := map[string]*located{}
	// add records run, known by its name, unless a source looked at
	// before (this node's spool, then its record of what it shipped, then
	// the peers) has it.
	add := func(run string) *located {
		if runs[run] != nil {
			return nil
		}
		runs[run] = &located{Run: ship.Run{Run: run, Key: s.shipper.KeyFor(ns, id, run)}}
		return runs[run]
	}
	refs, err := spool.Runs(s.logs.SpoolDir, ns, id)
	if err != nil {
		return l, fmt.Errorf("list the spool %s: %w", s.logs.SpoolDir, err)
	}
	for _, r := range refs {
		add(r.Run).Dir = r.Dir
	}
	if s.shipping != nil {
		// Shipped by this node lately: the key is known.
		for _, t := range s.shipping.Recent(ns, id, func(Task) bool { return true }) {
			if r := add(t.Run); r != nil && t.batch != nil {
				r.Run = ship.BatchRun(*t.batch)
			}
		}
	}
	// A run in this node's spool is the latest; one it shipped lately
	// may have been run again elsewhere since (a retried job): ask.
	if !local && (len(refs) == 0 || wantAll) && c.token != "" && s.peers.Configured() {
		batched := s.logs.Upload == config.UploadBatch
		hits, unreachable, asked, perr := s.peers.find(ctx, ns, id, c.token, s.node, wantAll)
		l.unreachable, l.askedPeers = unreachable, asked
		if perr != nil && len(hits) == 0 {
			l.unreachable = append(l.unreachable, perr.Error())
		}
		for _, h := range hits {
			if r := add(h.Run); r != nil && (h.State != StateShipped || batched) {
				// In the peer's spool: read through it. Shipped, the
				// key is known: read the store, without a listing;
				// but a batch's key is known to the peer alone.
				r.peer, r.peerNode = h.url, h.node
			}
		}
	}
	var listErr error
	if !local && (len(runs) == 0 || wantAll) {
		l.storeListed = true
		var stored []ship.Run
		if wantAll {
			stored, listErr = s.shipper.Runs(ctx, ns, id)
		} else {
			stored, _, listErr = s.shipper.RecentRuns(ctx, ns, id)
		}
		for _, r := range stored {
			if runs[r.Run] == nil {
				runs[r.Run] = &located{Run: r}
			}
		}
	}
	for _, r := range runs {
		l.runs = append(l.runs, *r)
	}
	sort.Slice(l.runs, func(i, j int) bool { return l.runs[i].Run.Run < l.runs[j].Run.Run })
	if listErr != nil {
		return l, fmt.Errorf("list %s: %w", l.store, listErr)
	}
	return l, nil
}

// fromPeer passes on the answer of the peer whose spool holds run: the
// same request, for that run, on that peer's spool alone, with the
// caller's own token (the peer checks it again).
func (s *Server) fromPeer(ctx context.Context, w http.ResponseWriter, r *http.Request, c caller, run located) {
	q := r.URL.Query()
	q.Set("local", "1")
	q.Set("run", run.Run.Run)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, run.peer+r.URL.EscapedPath()+"?"+q.Encode(), nil)
	if err != nil {
		deny(w, http.StatusInternalServerError, "%v", err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := s.peerHTTP.Do(req)
	if err != nil {
		deny(w, http.StatusBadGateway, "task runs on %s (%s), which did not answer: %v", run.peerNode, run.peer, err)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "X-Content-Type-Options", "Cache-Control", "Brisk-Node"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("Brisk-Source", SourcePeer)
	w.Header().Set("Brisk-Peer-Source", resp.Header.Get("Brisk-Source"))
	w.WriteHeader(resp.StatusCode)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			w.Header().Set(http.TrailerPrefix+TrailerError, fmt.Sprintf("%s stopped answering: %v", run.peerNode, rerr))
			return
		}
	}
	for k, vs := range resp.Trailer {
		for _, v := range vs {
			w.Header().Add(http.TrailerPrefix+k, v)
		}
	}
}
