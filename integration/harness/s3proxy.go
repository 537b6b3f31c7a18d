package harness

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// HoldingProxy passes S3 requests on to a server (MinIO). Armed, it lets
// the server store a PUT whose path holds a given part, then holds the
// answer back until the client goes away: the store took the object, and
// the writer never hears so, as when a daemon is killed between its PUT
// and the answer. SigV4 signs the Host header, which passes unchanged: a
// client signs for the proxy's address.
type HoldingProxy struct {
	URL   string
	srv   *httptest.Server
	rp    *httputil.ReverseProxy
	part  atomic.Pointer[string]
	Held  chan string // the path of each PUT held, stored
	limit time.Duration
}

// StartHoldingProxy starts a proxy to target on a loopback port; it stops
// when the test ends.
func (e *Env) StartHoldingProxy(target string) *HoldingProxy {
	e.T.Helper()
	u, err := url.Parse(target)
	if err != nil {
		e.T.Fatal(err)
	}
	p := &HoldingProxy{rp: httputil.NewSingleHostReverseProxy(u), Held: make(chan string, 16), limit: time.Minute}
	p.srv = httptest.NewServer(p)
	p.URL = p.srv.URL
	e.T.Cleanup(func() {
		p.Disarm()
		p.srv.CloseClientConnections()
		p.srv.Close()
	})
	return p
}

// Arm holds the answers of PUTs whose path contains part.
func (p *HoldingProxy) Arm(part string) { p.part.Store(&part) }

// Disarm passes every answer on again.
func (p *HoldingProxy) Disarm() { p.part.Store(nil) }

func (p *HoldingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	part := p.part.Load()
	if part == nil || r.Method != http.MethodPut || !strings.Contains(r.URL.Path, *part) {
		p.rp.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	p.rp.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	select {
	case p.Held <- r.URL.Path:
	default:
	}
	select {
	case <-r.Context().Done():
	case <-time.After(p.limit):
		panic(http.ErrAbortHandler) // no answer: the connection drops
	}
}
