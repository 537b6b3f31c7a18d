// Package logd is the node's log daemon, brisk-logd: it ships what the
// spool holds (the node's log retrier) and serves the node log API, by
// which any task's log is read by its ID, live from the spool of the node
// that runs it or from the object store once it left, from any node.
package logd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/netutil"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/unixsock"
	"github.com/brisk-containers/brisk/logs/handoff"
	"github.com/brisk-containers/brisk/logs/ship"
)

// Server serves the node log API of one node.
type Server struct {
	logs     config.Logs
	api      config.LogsAPI
	node     string
	shipper  *ship.Shipper
	tokens   *Tokens // nil: no tokens file, so TCP requests are refused
	peers    *Peers
	follows  chan struct{} // a slot per follower (max_followers)
	page     http.Handler
	tlsConf  *tls.Config
	peerHTTP *http.Client
	shipping *Shipping
	metrics  http.Handler
	requests *prometheus.CounterVec
	cost     *costWindow // nil without WithRequests
}

// Opt configures a Server.
type Opt func(*Server)

// WithPage serves the log viewer page at / and /t/{namespace}/{id}.
func WithPage(h http.Handler) Opt { return func(s *Server) { s.page = h } }

// WithShipping has the server take shims' hand-offs (POST /v1/handoff)
// and report shipping's health (GET /v1/status), on the unix socket.
func WithShipping(sh *Shipping) Opt { return func(s *Server) { s.shipping = sh } }

// WithMetrics serves h at /metrics on the unix socket and on
// logs.api.metrics_address.
func WithMetrics(h http.Handler) Opt { return func(s *Server) { s.metrics = h } }

// WithRequests has GET /v1/status report the last hour's S3 requests from
// c (store.NewRequestCounter, which the store counts its requests into),
// beside the logs shipped meanwhile: briskctl doctor's cost line.
func WithRequests(c *prometheus.CounterVec) Opt { return func(s *Server) { s.requests = c } }

// NodeName is the node's name: logs.api.node_name, or the host name.
func NodeName(api config.LogsAPI) string {
	if api.NodeName != "" {
		return api.NodeName
	}
	host, _ := os.Hostname()
	return host
}

// New returns the server of the node whose spool and store logs names.
func New(ctx context.Context, logs config.Logs, shipper *ship.Shipper, opts ...Opt) (*Server, error) {
	api := logs.API
	s := &Server{logs: logs, api: api, shipper: shipper, follows: make(chan struct{}, api.MaxFollowers)}
	s.node = NodeName(api)
	for _, o := range opts {
		o(s)
	}
	if s.requests != nil {
		s.cost = newCostWindow(s.requests, s.shipped, time.Now())
	}
	if api.TokensFile != "" {
		t, err := LoadTokens(api.TokensFile)
		if err != nil {
			return nil, err
		}
		s.tokens = t
	}
	if api.TLS() {
		c, err := s.serverTLS()
		if err != nil {
			return nil, err
		}
		s.tlsConf = c
	}
	pc, err := s.peerClient()
	if err != nil {
		return nil, err
	}
	s.peerHTTP = pc
	s.peers = newPeers(api, pc)
	return s, nil
}

// Node is the name this server answers as.
func (s *Server) Node() string { return s.node }

// shipped is how many logs this daemon shipped since it started.
func (s *Server) shipped() uint64 {
	if s.shipping == nil {
		return 0
	}
	return s.shipping.Health().Shipped
}

// Handler is the API's routes, authenticated as a request over TCP.
func (s *Server) Handler() http.Handler { return s.routes(false) }

func (s *Server) routes(trusted bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET /v1/logs/{namespace}/{id...}", s.authenticated(trusted, s.serveLogs))
	mux.Handle("GET /v1/tasks", s.authenticated(trusted, s.serveTasks))
	if trusted {
		// The node's own: shims hand entries over, doctor asks.
		mux.HandleFunc("POST "+handoff.Path, s.serveHandoff)
		mux.HandleFunc("GET /v1/status", s.serveStatus)
		if s.metrics != nil {
			mux.Handle("GET /metrics", s.metrics)
		}
	}
	if s.page != nil {
		mux.Handle("GET /{$}", s.page)
		mux.Handle("GET /t/", s.page)
	}
	return mux
}

// Serve serves the API on the unix socket and the TCP listener until ctx
// ends.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 3)
	var servers []*http.Server
	// Whatever way Serve returns (ctx ended, a listener failed to open or
	// stopped), every server it started stops.
	if s.cost != nil {
		go s.cost.run(ctx)
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, srv := range servers {
			if err := srv.Shutdown(shutdown); err != nil {
				srv.Close() // followers do not end by themselves
			}
		}
	}()
	if s.api.Socket != "" {
		l, err := listenSocket(s.api.Socket)
		if err != nil {
			return err
		}
		defer os.Remove(s.api.Socket)
		srv := s.httpServer(s.routes(true))
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(l) }()
		log.G(ctx).WithField("socket", s.api.Socket).Info("node log API on the unix socket")
	}
	if s.api.Listen != "" {
		l, err := net.Listen("tcp", s.api.Listen)
		if err != nil {
			return fmt.Errorf("logs.api.listen = %q: %w", s.api.Listen, err)
		}
		l = netutil.LimitListener(l, s.api.MaxConnections)
		srv := s.httpServer(s.routes(false))
		servers = append(servers, srv)
		if s.tlsConf != nil {
			srv.TLSConfig = s.tlsConf
			go func() { errc <- srv.ServeTLS(l, "", "") }()
		} else {
			go func() { errc <- srv.Serve(l) }()
		}
		log.G(ctx).WithFields(log.Fields{"listen": l.Addr().String(), "tls": s.tlsConf != nil, "node": s.node}).Info("node log API listening")
	}
	if s.api.MetricsAddress != "" && s.metrics != nil {
		l, err := net.Listen("tcp", s.api.MetricsAddress)
		if err != nil {
			return fmt.Errorf("logs.api.metrics_address = %q: %w", s.api.MetricsAddress, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics)
		srv := s.httpServer(mux)
		servers = append(servers, srv)
		go func() { errc <- srv.Serve(l) }()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return ctx.Err()
		}
		return err
	}
}

func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler: h,
		// No write timeout: a follow lasts as long as its task.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

// listenSocket listens on the unix socket at path, reachable by root only.
func listenSocket(path string) (net.Listener, error) {
	l, err := unixsock.Listen(path)
	if errdefs.IsAlreadyExists(err) {
		return nil, fmt.Errorf("logs.api.socket = %q: another brisk-logd serves it: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("logs.api.socket = %q: %w", path, err)
	}
	return l, nil
}

// serverTLS is the TCP listener's TLS: the certificate re-read when its
// files change (cert-manager rotates them), and with client_ca, clients'
// certificates checked when they give one (peers do; a browser need not).
func (s *Server) serverTLS() (*tls.Config, error) {
	certs := &certFiles{cert: s.api.TLSCert, key: s.api.TLSKey}
	if _, err := certs.get(); err != nil {
		return nil, err
	}
	c := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return certs.get() },
	}
	if s.api.ClientCA != "" {
		pool, err := loadCA(s.api.ClientCA)
		if err != nil {
			return nil, err
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return c, nil
}

func loadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("logs.api.client_ca = %q: %w", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("logs.api.client_ca = %q: no PEM certificate in it", path)
	}
	return pool, nil
}
