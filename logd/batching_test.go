package logd

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// Under batch mode, brisk-logd stores finished logs in batches and
// serves them by ID: from the batch it remembers storing, and from any
// node through the bucket's index once the compactor indexed it.
func TestBatchModeServesByID(t *testing.T) {
	f := storetest.New(t)
	dir := t.TempDir()
	writeTokens(t, filepath.Join(dir, "tokens"))
	mk := func(name string) (*httptest.Server, config.Logs) {
		cfg := config.DefaultLogs()
		cfg.SpoolDir = filepath.Join(dir, name, "spool")
		cfg.API.Socket, cfg.API.NodeName = "", name
		cfg.API.TokensFile = filepath.Join(dir, "tokens")
		cfg.Upload = config.UploadBatch
		cfg.Batch.Interval = config.Duration(time.Second)
		cfg.S3 = f.Config()
		shipper, err := ship.New(context.Background(), cfg, ship.WithStore(f.Store(cfg.S3)))
		if err != nil {
			t.Fatal(err)
		}
		sh, err := NewShipping(cfg, shipper, name, nil, WithBatchOptions(nil, []index.CompactorOpt{index.WithCycle(200 * time.Millisecond)}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() { _ = sh.Serve(ctx); close(served) }()
		t.Cleanup(func() { cancel(); <-served })
		srv, err := New(context.Background(), cfg, shipper, WithShipping(sh))
		if err != nil {
			t.Fatal(err)
		}
		h := httptest.NewServer(srv.Handler())
		t.Cleanup(h.Close)
		return h, cfg
	}
	aHTTP, aCfg := mk("a")
	bHTTP, _ := mk("b") // no peers: b finds it through the index alone

	e, err := spool.Open(aCfg.SpoolDir, spool.Meta{Namespace: "default", ID: "batched", Run: spool.NewRun(time.Now(), "abcd1234"), Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Write(spool.Stdout, []byte("in a batch\n"))
	if _, err := e.Finish(spool.ExitInfo{Code: 4, Exited: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	get := func(base, path string) (int, string) {
		req := httptest.NewRequest("GET", base+path, nil)
		req.RequestURI = ""
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := aHTTP.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b) + resp.Header.Get("Brisk-Source")
	}
	for _, tc := range []struct{ name, base string }{{"the node that stored it", aHTTP.URL}, {"another node, through the index", bHTTP.URL}} {
		var code int
		var body string
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			code, body = get(tc.base, "/v1/logs/default/batched")
			if code == 200 && strings.HasSuffix(body, SourceStore) {
				break
			}
		}
		if code != 200 || !strings.Contains(body, "in a batch\n") || !strings.HasSuffix(body, SourceStore) {
			t.Fatalf("%s: %d %q; want the log, from the store", tc.name, code, body)
		}
	}
	if p, _ := spool.Pending(aCfg.SpoolDir); len(p) != 0 {
		t.Errorf("entries left in a's spool: %v", p)
	}
}
