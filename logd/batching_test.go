package logd

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
)

// Under batch mode, brisk-logd stores finished logs in batches and
// serves them by ID: from the batch it remembers storing, and from any
// node through the bucket's index once the compactor indexed it.
func TestBatchModeServesByID(t *testing.T) {
	f := storetest.New(t)
	dir := t.TempDir()
	writeTokens(t, filepath.Join(dir, "tokens"))
	regs := map[string]*prometheus.Registry{"a": prometheus.NewRegistry(), "b": prometheus.NewRegistry()}
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
		sh, err := NewShipping(cfg, shipper, name, regs[name], WithBatchOptions(nil, []index.CompactorOpt{index.WithCycle(200 * time.Millisecond)}))
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
		code, body, source := getWithToken(t, base+path)
		return code, body + source
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
	// The alert rules' batch-mode series are exported, by a or b.
	rules, err := os.ReadFile("../contrib/prometheus/brisk-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, reg := range regs {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			exported[mf.GetName()] = true
		}
	}
	for _, name := range regexp.MustCompile(`brisk_logd_[a-z_]+`).FindAllString(string(rules), -1) {
		if base := strings.TrimSuffix(name, "_total"); batchModeSeries.MatchString(name) && !exported[name] && !exported[base] {
			t.Errorf("contrib/prometheus/brisk-alerts.yaml uses %s, which brisk-logd in batch mode does not export", name)
		}
	}
}

// batchModeSeries are the series brisk-logd exports under batch mode only.
var batchModeSeries = regexp.MustCompile(`^brisk_logd_(compactor|batch|indexed|exit_to_stored)`)
