package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/brisk-containers/brisk/hack/internal/procstat"

	"github.com/brisk-containers/brisk/logd"
	"github.com/brisk-containers/brisk/logs/spool"
)

// What a simulated peer does when asked.
const (
	simAnswers = "answers" // at once, with no task
	simSlow    = "slow"    // after -slow
	simDown    = "down"    // nobody listens: refused
	simHung    = "hung"    // accepts and never answers
	simHolder  = "holder"  // at once, and holds every ID that starts with heldPrefix
)

const heldPrefix = "held-"

// simPeer is one simulated node's log API.
type simPeer struct {
	kind  string
	url   string
	name  string
	asked atomic.Int64
}

// runFanout measures lookups by ID on a brisk-logd whose peers are 100
// simulated nodes, beside the same lookup on a brisk-logd with no peers
// (the store's part of the answer).
func runFanout(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ExitOnError)
	var c common
	c.register(fs)
	var (
		peers    = fs.Int("peers", 100, "simulated peers")
		slow     = fs.Int("slow", 5, "of them, answering after -slow-by")
		slowBy   = fs.Duration("slow-by", 100*time.Millisecond, "how late the slow ones answer")
		down     = fs.Int("down", 5, "of them, refusing connections")
		hung     = fs.Int("hung", 2, "in the second setup, peers that never answer (replacing as many answering ones)")
		hungWait = fs.Duration("hung-peer-timeout", 150*time.Millisecond, "peer_timeout of the setup with hung peers")
		lookups  = fs.Int("lookups", 100, "lookups of each kind per setup")
	)
	fs.Parse(args)
	if *slow+*down+*hung+1 > *peers {
		return fmt.Errorf("-peers %d: fewer than the holder, %d slow, %d down and %d hung", *peers, *slow, *down, *hung)
	}
	cleanup, err := c.setup()
	if err != nil {
		return err
	}
	defer cleanup()
	load := procstat.LoadAvg()

	// The simulated nodes: one holds the IDs; the slow, the down, the
	// hung ones, and enough answering ones for every setup.
	var holder []*simPeer
	byKind := map[string][]*simPeer{}
	for kind, n := range map[string]int{simHolder: 1, simSlow: *slow, simDown: *down, simHung: *hung, simAnswers: *peers - 1} {
		for range n {
			p := &simPeer{kind: kind}
			stop, err := p.serve(*slowBy)
			if err != nil {
				return err
			}
			defer stop()
			byKind[kind] = append(byKind[kind], p)
		}
	}
	holder = byKind[simHolder]
	for kind, ps := range byKind {
		for i, p := range ps {
			p.name = fmt.Sprintf("sim-%s-%03d", kind, i)
		}
	}
	mix := func(parts ...[]*simPeer) []*simPeer { return slices.Concat(parts...) }
	answering := byKind[simAnswers]
	some := len(answering) - *slow - *down
	setups := []struct {
		name    string
		peers   []*simPeer
		timeout time.Duration
	}{
		// The store's part of a lookup, alone.
		{"no-peers", nil, time.Second},
		// Every peer answers at once: the fan-out's own cost.
		{"fast", mix(holder, answering), time.Second},
		// Some answer late, some are down (refused).
		{"slow-down", mix(holder, byKind[simSlow], byKind[simDown], answering[:some]), time.Second},
		// And some never answer: the lookup waits for peer_timeout.
		{"hung", mix(holder, byKind[simSlow], byKind[simDown], answering[:some-*hung], byKind[simHung]), *hungWait},
	}
	urlsOf := func(ps []*simPeer) (urls []string) {
		for _, p := range ps {
			urls = append(urls, p.url)
		}
		return urls
	}
	for _, s := range setups {
		d, err := reserve(&c, "fanout-"+s.name)
		if err != nil {
			return err
		}
		if err := d.start(ctx, &c, urlsOf(s.peers), s.timeout); err != nil {
			return err
		}
		// Only with hung peers may an answering one miss the deadline
		// (a tight peer_timeout on a loaded machine): counted, not fatal.
		res, err := measureLookups(ctx, d, s.peers, *lookups, s.name != "hung")
		d.stop()
		if err != nil {
			return fmt.Errorf("setup %s: %w", s.name, err)
		}
		for _, r := range res {
			r["setup"], r["peers"], r["peer_timeout_ms"], r["loadavg"] = s.name, len(s.peers), ms(s.timeout), load
			r["slow"], r["slow_by_ms"], r["down"] = count(s.peers, simSlow), ms(*slowBy), count(s.peers, simDown)
			r["hung"] = count(s.peers, simHung)
			c.emit(r)
		}
	}
	return nil
}

func count(ps []*simPeer, kind string) int {
	n := 0
	for _, p := range ps {
		if p.kind == kind {
			n++
		}
	}
	return n
}

// measureLookups times lookups of IDs nobody has and of IDs the holder
// has, each ID new (a found ID's node is cached, and the cache is not what
// is measured), interleaved. Strict, every peer that can answer must have
// been asked once per lookup and none but the down and hung ones be named
// unreachable; else answering peers named unreachable, and held IDs not
// found, are counted.
func measureLookups(ctx context.Context, d *daemon, peers []*simPeer, n int, strict bool) ([]result, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, p := range peers {
		p.asked.Store(0)
	}
	var wantUnreachable []string
	for _, p := range peers {
		if p.kind == simDown || p.kind == simHung {
			wantUnreachable = append(wantUnreachable, strings.TrimPrefix(p.url, "http://"))
		}
	}
	sort.Strings(wantUnreachable)
	stem := strconv.FormatInt(time.Now().UnixNano(), 36)
	samples := map[string][]time.Duration{}
	first := map[string]time.Duration{}
	spurious, missed := map[string]int{}, 0
	const warm = 3
	for i := -warm; i < n; i++ {
		for _, kind := range []string{"none", "held"} {
			id := fmt.Sprintf("%s-%s-%d", kind, stem, i+warm)
			held := kind == "held" && len(peers) > 0
			if held {
				id = heldPrefix + id
			}
			l, err := lookup(ctx, client, d, id, held, wantUnreachable)
			if err != nil {
				return nil, fmt.Errorf("lookup %s: %w", id, err)
			}
			if strict && (l.spurious > 0 || l.missed) {
				return nil, fmt.Errorf("lookup %s: %d answering peers named unreachable, found: %v", id, l.spurious, !l.missed)
			}
			if i == -warm {
				first[kind] = l.took // the first: connections to every peer are new
			}
			if i >= 0 {
				samples[kind] = append(samples[kind], l.took)
				if l.spurious > 0 {
					spurious[kind]++
				}
				if l.missed {
					missed++
				}
			}
		}
	}
	if strict {
		for _, p := range peers {
			if got, want := p.asked.Load(), int64(2*(n+warm)); p.kind != simDown && got != want {
				return nil, fmt.Errorf("peer %s was asked %d times in %d lookups", p.name, got, want)
			}
		}
	}
	var out []result
	for _, kind := range []string{"none", "held"} {
		if len(peers) == 0 && kind == "held" {
			continue // nobody holds it: the same answer as none
		}
		r := latencies("logd-fanout", kind, samples[kind])
		r["first_ms"] = ms(first[kind])
		// Lookups that named an answering peer unreachable, and (held)
		// that did not find the ID for it.
		r["spurious_unreachable"] = spurious[kind]
		if kind == "held" {
			r["missed"] = missed
		}
		out = append(out, r)
	}
	return out, nil
}

// looked is one lookup's answer.
type looked struct {
	took     time.Duration
	spurious int  // answering peers named unreachable
	missed   bool // a held ID not found
}

// lookup is one GET /v1/logs of id on d, timed to the end of the answer.
func lookup(ctx context.Context, client *http.Client, d *daemon, id string, held bool, wantUnreachable []string) (looked, error) {
	var l looked
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/v1/logs/"+namespace+"/"+id, nil)
	if err != nil {
		return l, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return l, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	l.took = time.Since(t0)
	if err != nil {
		return l, err
	}
	switch {
	case held && resp.StatusCode == http.StatusNotFound:
		l.missed = true
	case held && (resp.StatusCode != http.StatusOK || resp.Header.Get("Brisk-Source") != logd.SourcePeer || !strings.Contains(string(body), "held by sim-holder-000")):
		return l, fmt.Errorf("%s, Brisk-Source %q, %q; want 200 from the peer that holds it", resp.Status, resp.Header.Get("Brisk-Source"), body)
	case !held && resp.StatusCode != http.StatusNotFound:
		return l, fmt.Errorf("%s, %q; want 404", resp.Status, body)
	}
	var unreachable []string
	if h := resp.Header.Get("Brisk-Unreachable-Peers"); h != "" {
		unreachable = strings.Split(h, ",")
	}
	for _, w := range wantUnreachable {
		if !slices.Contains(unreachable, w) {
			return l, fmt.Errorf("Brisk-Unreachable-Peers %q lacks %s, which is down or hung", unreachable, w)
		}
	}
	l.spurious = len(unreachable) - len(wantUnreachable)
	return l, nil
}

// serve starts p on a loopback port; a down peer only reserves one.
func (p *simPeer) serve(slowBy time.Duration) (stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p.url = "http://127.0.0.1:" + strconv.Itoa(port)
	switch p.kind {
	case simDown:
		return func() {}, nil
	case simHung:
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return nil, err
		}
		// Accepted and read, never answered: a node whose process hangs.
		// Each lookup gives up on its connection, so each connection is
		// one ask.
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				p.asked.Add(1)
				go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
			}
		}()
		return func() { l.Close() }, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tasks", func(w http.ResponseWriter, r *http.Request) {
		p.asked.Add(1)
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unknown token", http.StatusUnauthorized)
			return
		}
		if p.kind == simSlow {
			select {
			case <-time.After(slowBy):
			case <-r.Context().Done():
				return
			}
		}
		list := logd.TaskList{Node: p.name, Tasks: []logd.Task{}}
		if id := r.URL.Query().Get("id"); p.kind == simHolder && strings.HasPrefix(id, heldPrefix) {
			now := time.Now()
			list.Tasks = append(list.Tasks, logd.Task{Namespace: r.URL.Query().Get("namespace"), ID: id, Run: spool.NewRun(now, "sim00000"),
				State: spool.StateLive, Started: now, Bytes: 14})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("GET /v1/logs/{namespace}/{id...}", func(w http.ResponseWriter, r *http.Request) {
		if p.kind != simHolder || !strings.HasPrefix(r.PathValue("id"), heldPrefix) {
			http.Error(w, "no such task", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Brisk-Source", logd.SourceSpool)
		w.Header().Set("Brisk-Node", p.name)
		fmt.Fprintf(w, "held by %s\n", p.name)
	})
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return func() { srv.Close() }, nil
}
