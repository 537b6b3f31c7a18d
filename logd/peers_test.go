package logd

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
)

// fakePeer answers GET /v1/tasks as a node named name holding ids, and
// counts the requests.
func fakePeer(t *testing.T, name string, ids ...string) (*httptest.Server, *atomic.Int64) {
	var asked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		list := TaskList{Node: name, Tasks: []Task{}}
		for _, id := range ids {
			if r.URL.Query().Get("id") == id {
				list.Tasks = append(list.Tasks, Task{Namespace: r.URL.Query().Get("namespace"), ID: id, Run: "20261207T000000.000000Z-abcd1234", State: "live"})
			}
		}
		_ = json.NewEncoder(w).Encode(list)
	}))
	t.Cleanup(srv.Close)
	return srv, &asked
}

func TestPeersFromDNS(t *testing.T) {
	holder, _ := fakePeer(t, "holder", "x")
	other, _ := fakePeer(t, "other")
	self, _ := fakePeer(t, "me", "x") // the Service's addresses include this node's own
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(holder.URL, "http://"))
	api := config.DefaultLogsAPI()
	api.PeersDNS = "brisk-logd.brisk-system.svc.cluster.local"
	api.Listen = "127.0.0.1:" + port
	p := newPeers(api, http.DefaultClient)
	// The fake servers listen on different ports; DNS gives addresses on
	// this node's port, so each name maps to one server here.
	byHost := map[string]string{"10.0.0.1": holder.URL, "10.0.0.2": other.URL, "10.0.0.3": self.URL, "10.0.0.4": "http://127.0.0.1:1"}
	p.resolve = func(_ context.Context, host string) ([]string, error) {
		if host != api.PeersDNS {
			return nil, fmt.Errorf("asked for %q", host)
		}
		return []string{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}, nil
	}
	urls, err := p.urls(context.Background())
	if err != nil || len(urls) != 4 || urls[0] != "http://10.0.0.1:"+port {
		t.Fatalf("peers from DNS: %v %v", urls, err)
	}
	p.client = &http.Client{Transport: rewrite{byHost}}
	hits, unreachable, asked, err := p.find(context.Background(), "default", "x", "token", "me", true)
	if err != nil || len(hits) != 1 || hits[0].node != "holder" {
		t.Errorf("hits %+v, %v; want the holder's run alone (not this node's own)", hits, err)
	}
	if len(unreachable) != 1 || unreachable[0] != "10.0.0.4:"+port || strings.Join(asked, ",") != "holder,other" {
		t.Errorf("unreachable %v, asked %v", unreachable, asked)
	}
}

// rewrite sends a request for 10.0.0.N to the fake server standing for it.
type rewrite struct{ byHost map[string]string }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	host, _, _ := net.SplitHostPort(req.URL.Host)
	to, ok := r.byHost[host]
	if !ok {
		return nil, fmt.Errorf("no such host %s", host)
	}
	req = req.Clone(req.Context())
	req.URL.Host = strings.TrimPrefix(to, "http://")
	return http.DefaultTransport.RoundTrip(req)
}

func TestWhereALiveIDWasFoundIsAskedFirst(t *testing.T) {
	var peers []string
	var counts []*atomic.Int64
	for i := 0; i < 10; i++ {
		ids := []string{}
		if i == 7 {
			ids = append(ids, "x")
		}
		srv, n := fakePeer(t, fmt.Sprintf("p%d", i), ids...)
		peers, counts = append(peers, srv.URL), append(counts, n)
	}
	api := config.DefaultLogsAPI()
	api.Peers = peers
	api.PeerTimeout = config.Duration(2 * time.Second)
	p := newPeers(api, http.DefaultClient)
	for round := 1; round <= 3; round++ {
		hits, _, _, err := p.find(context.Background(), "default", "x", "token", "me", true)
		if err != nil || len(hits) != 1 || hits[0].node != "p7" {
			t.Fatalf("round %d: %+v %v", round, hits, err)
		}
	}
	for i, c := range counts {
		want := int64(1)
		if i == 7 {
			want = 3
		}
		if c.Load() != want {
			t.Errorf("peer p%d asked %d times in 3 lookups; want %d (the fan-out once, then the peer that holds it)", i, c.Load(), want)
		}
	}
}

// The latest run's lookup ends with the first peer that holds the ID: a
// slow peer does not hold up the follower.
func TestFirstPeerHoldingTheIDEndsTheWait(t *testing.T) {
	holder, _ := fakePeer(t, "holder", "x")
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	api := config.DefaultLogsAPI()
	api.Peers = []string{slow.URL, holder.URL}
	api.PeerTimeout = config.Duration(5 * time.Second)
	p := newPeers(api, http.DefaultClient)
	start := time.Now()
	hits, _, _, err := p.find(context.Background(), "default", "x", "token", "me", false)
	if err != nil || len(hits) != 1 {
		t.Fatalf("hits %+v, %v", hits, err)
	}
	if took := time.Since(start); took >= 5*time.Second {
		t.Errorf("the lookup waited %v, for the slow peer's deadline; the holder had answered", took)
	}
}
