package logd

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// countingStore counts the store's listings: the requests that lookup by
// ID would make without knowing the run.
type countingStore struct {
	store.Store
	lists atomic.Int32
}

func (c *countingStore) List(ctx context.Context, prefix, startAfter string, page func([]string, bool) bool) error {
	c.lists.Add(1)
	return c.Store.List(ctx, prefix, startAfter, page)
}

// A task that exited on a node minutes ago is found through any node by
// its ID: the node that shipped it names the run, and the store is read by
// key, with no listing.
func TestRecentlyExitedFoundWithoutAListing(t *testing.T) {
	dir := t.TempDir()
	store := &countingStore{Store: &store.Local{Dir: filepath.Join(dir, "store")}}
	mk := func(name string, peers ...string) (*Server, *httptest.Server, config.Logs) {
		cfg := config.DefaultLogs()
		cfg.SpoolDir = filepath.Join(dir, name, "spool")
		cfg.API.Socket, cfg.API.NodeName, cfg.API.Peers = "", name, peers
		cfg.API.TokensFile = filepath.Join(dir, "tokens")
		shipper, err := ship.New(context.Background(), cfg, ship.WithStore(store))
		if err != nil {
			t.Fatal(err)
		}
		sh, _ := NewShipping(cfg, shipper, "n", nil)
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() { _ = sh.Serve(ctx); close(served) }()
		t.Cleanup(func() { cancel(); <-served }) // its workers are done with the spool
		srv, err := New(context.Background(), cfg, shipper, WithShipping(sh))
		if err != nil {
			t.Fatal(err)
		}
		h := httptest.NewServer(srv.Handler())
		t.Cleanup(h.Close)
		return srv, h, cfg
	}
	writeTokens(t, filepath.Join(dir, "tokens"))
	_, aHTTP, aCfg := mk("a")
	_, bHTTP, _ := mk("b", aHTTP.URL)

	e, err := spool.Open(aCfg.SpoolDir, spool.Meta{Namespace: "default", ID: "done-lately", Run: spool.NewRun(time.Now(), "abcd1234"), Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Write(spool.Stdout, []byte("finished a minute ago\n"))
	if _, err := e.Finish(spool.ExitInfo{Code: 2, Exited: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	get := func(base, path string) (int, string) {
		code, body, _ := getWithToken(t, base+path)
		return code, body
	}
	// Shipped by a's brisk-logd: a's tasks still list it, as shipped.
	var list TaskList
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, body := get(aHTTP.URL, "/v1/tasks?namespace=default")
		list = TaskList{}
		_ = json.Unmarshal([]byte(body), &list)
		if len(list.Tasks) == 1 && list.Tasks[0].State == StateShipped {
			break
		}
	}
	if len(list.Tasks) != 1 || list.Tasks[0].State != StateShipped || list.Tasks[0].ExitCode == nil || *list.Tasks[0].ExitCode != 2 {
		t.Fatalf("a's tasks after shipping: %+v; want done-lately, shipped, exit 2", list.Tasks)
	}
	before := store.lists.Load()
	code, body := get(bHTTP.URL, "/v1/logs/default/done-lately?format=ndjson")
	if code != 200 || !strings.Contains(body, "finished a minute ago") || !strings.Contains(body, `"exit":{"code":2`) {
		t.Fatalf("through b: %d %q", code, body)
	}
	if n := store.lists.Load() - before; n != 0 {
		t.Errorf("the lookup listed the store %d times; a knew the run", n)
	}
}
