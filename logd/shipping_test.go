package logd

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/handoff"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// refusingStore refuses uploads with the code S3 gives for a key it does
// not know, until allowed.
type refusingStore struct {
	allow atomic.Bool
	puts  atomic.Int32
}

func (r *refusingStore) Put(_ context.Context, _ string, body io.Reader, _ map[string]string, _ string) error {
	_, _ = io.Copy(io.Discard, body)
	r.puts.Add(1)
	if !r.allow.Load() {
		return &smithy.GenericAPIError{Code: "InvalidAccessKeyId", Message: "The AWS Access Key Id you provided does not exist in our records."}
	}
	return nil
}
func (r *refusingStore) Get(context.Context, string) ([]byte, map[string]string, error) {
	return nil, nil, store.ErrNotFound
}
func (r *refusingStore) List(context.Context, string, string, func([]string, bool) bool) error {
	return nil
}
func (r *refusingStore) String() string { return "s3://refusing" }

// A shipper that cannot ship is loud: status, and metrics an alert reads.
func TestShippingThatFailsIsLoud(t *testing.T) {
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(t.TempDir(), "spool")
	refusing := &refusingStore{}
	shipper, err := ship.New(context.Background(), cfg, ship.WithStore(refusing))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	sh, _ := NewShipping(cfg, shipper, "n", reg)
	srv, err := New(context.Background(), cfg, shipper, WithShipping(sh), WithMetrics(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	if err != nil {
		t.Fatal(err)
	}
	socket := httptest.NewServer(srv.routes(true)) // as the unix socket serves
	defer socket.Close()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { _ = sh.Serve(ctx); close(served) }()
	defer func() { cancel(); <-served }() // its workers are done with the spool

	e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Finish(spool.ExitInfo{Code: 1}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	if resp, err := http.Post(socket.URL+"/v1/handoff", "application/json", strings.NewReader(`{"entry":"`+e.Dir()+`"}`)); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("hand-off: %v %v", resp, err)
	}
	status := func() Status {
		resp, err := http.Get(socket.URL + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	var st Status
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st = status(); st.Shipping != nil && st.Shipping.ConsecutiveFailures > 0 {
			break
		}
	}
	if h := st.Shipping; h == nil || h.ConsecutiveFailures == 0 || h.LastErrorKind != store.FailAccess || !strings.Contains(h.LastError, "InvalidAccessKeyId") {
		t.Fatalf("status while the store refuses the credentials: %+v", h)
	}
	metrics := func() string {
		resp, err := http.Get(socket.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	m := metrics()
	if !strings.Contains(m, `brisk_logd_ships_total{kind="access",result="failed"} 1`) || !strings.Contains(m, "brisk_logd_ship_failures_consecutive 1") || !strings.Contains(m, `brisk_logs_spool_entries{state="done"} 1`) {
		t.Errorf("metrics while the store refuses:\n%s", m)
	}
	// Fixed: the next attempt (after its back-off) ships, and says so.
	refusing.allow.Store(true)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st = status(); st.Shipping.Shipped == 1 {
			break
		}
	}
	if h := st.Shipping; h.Shipped != 1 || h.ConsecutiveFailures != 0 || h.LastShipped.IsZero() {
		t.Errorf("status once the store takes it: %+v", h)
	}
	m = metrics()
	if !strings.Contains(m, "brisk_logd_ship_failures_consecutive 0") {
		t.Errorf("consecutive failures not back to 0")
	}
	// The shipped alert rules use only series brisk-logd exports.
	rules, err := os.ReadFile("../contrib/prometheus/brisk-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range regexp.MustCompile(`brisk_logd_[a-z_]+`).FindAllString(string(rules), -1) {
		if batchModeSeries.MatchString(name) {
			continue // batch mode's own: TestBatchModeServesByID checks them
		}
		if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(m) {
			t.Errorf("contrib/prometheus/brisk-alerts.yaml uses %s, which brisk-logd does not export", name)
		}
	}
	// The hand-off and the status are the node's own: not over TCP.
	tcp := httptest.NewServer(srv.Handler())
	defer tcp.Close()
	if resp, err := http.Post(tcp.URL+"/v1/handoff", "", nil); err != nil || resp.StatusCode == http.StatusAccepted {
		t.Errorf("hand-off over TCP: %v %v", resp.Status, err)
	}
}

// The shim's client reaches the daemon's hand-off on the unix socket.
func TestHandoffClientReachesTheSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "logd.sock")
	if err := handoff.New(sock).Notify(context.Background(), "/run/brisk/spool/ns/x@y"); err == nil || !strings.Contains(err.Error(), sock) {
		t.Errorf("no daemon: %v; want an error naming the socket", err)
	}
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(t.TempDir(), "spool")
	cfg.API.Socket, cfg.API.Listen = sock, ""
	shipper, err := ship.New(context.Background(), cfg, ship.WithStore(&refusingStore{}))
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := NewShipping(cfg, shipper, "n", nil)
	srv, err := New(context.Background(), cfg, shipper, WithShipping(sh))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Serve(ctx) }()
	var nerr error
	for i := 0; i < 100; i++ {
		if nerr = handoff.New(sock).Notify(context.Background(), filepath.Join(cfg.SpoolDir, "ns", "x@y")); nerr == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if nerr != nil {
		t.Errorf("hand-off to a serving daemon: %v", nerr)
	}
}
