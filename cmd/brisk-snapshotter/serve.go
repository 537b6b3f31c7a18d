package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/unixsock"
	"github.com/brisk-containers/brisk/logs/spoolmetrics"
	"github.com/brisk-containers/brisk/snapshotter"
	"github.com/brisk-containers/brisk/snapshotter/metrics"
	"github.com/brisk-containers/brisk/snapshotter/usageapi"
)

// shutdownGrace bounds how long in-flight calls may finish after SIGTERM.
// Nothing a container depends on stops with us, so a short grace suffices.
const shutdownGrace = 10 * time.Second

// The metrics and usage servers serve a few scrapers and briskctl: a handful
// of connections, none of which needs to idle long.
const (
	httpMaxConns    = 32
	httpIdleTimeout = 30 * time.Second
)

// serve runs the snapshotter until ctx ends. spoolDir is the shims' log
// spool ([logs] spool_dir), whose backlog is exported with the metrics.
func serve(ctx context.Context, cfg config.Snapshotter, spoolDir string) error {
	sn, err := snapshotter.New(ctx, cfg.Root, snapshotter.WithConfig(cfg))
	if err != nil {
		return err
	}
	defer sn.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(metrics.NewCollector(sn), spoolmetrics.NewCollector(spoolDir))
	// One daemon serves every profile; each request runs under the one its
	// [proxy_plugins.NAME] names.
	profiled := sn.Profiled()
	instrumented, err := metrics.Instrument(profiled, reg)
	if err != nil {
		return err
	}

	ls, err := listen(cfg)
	if err != nil {
		return err
	}
	defer ls.close()
	srv := grpc.NewServer(profiled.GRPCServerOptions()...)
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(instrumented))

	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(ls.grpc) }()
	var httpSrvs []*http.Server
	// /metrics is for any scraper, so it carries no host path; the usage
	// report, which names every snapshot's upper on the host, is root's.
	if ls.metrics != nil {
		httpSrvs = append(httpSrvs, serveHTTP(ls.metrics, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), errc))
	}
	if ls.usage != nil {
		httpSrvs = append(httpSrvs, serveHTTP(ls.usage, usageapi.Path, usageHandler(sn), errc))
	}

	log.G(ctx).WithFields(log.Fields{"address": cfg.Address, "root": cfg.Root, "upper": cfg.Upper, "profiles": len(cfg.Profiles), "metrics": cfg.MetricsAddress, "usage_socket": cfg.UsageSocket}).Info("brisk-snapshotter serving")
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.G(ctx).WithError(err).Warn("systemd notify failed")
	}

	select {
	case err = <-errc:
	case <-ctx.Done():
		log.G(ctx).Info("shutting down")
		_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	}
	stop(srv, httpSrvs)
	return err
}

// listeners are the daemon's sockets. They are all bound before anything is
// served: a daemon that accepted containerd's connection and then died on a
// taken metrics port would look healthy for a moment.
type listeners struct {
	grpc, metrics, usage net.Listener // metrics and usage nil when disabled
	closers              []func()
}

func listen(cfg config.Snapshotter) (_ *listeners, retErr error) {
	ls := &listeners{}
	defer func() {
		if retErr != nil {
			ls.close()
		}
	}()
	if cfg.MetricsAddress != "" {
		l, err := net.Listen("tcp", cfg.MetricsAddress)
		if err != nil {
			return nil, fmt.Errorf("snapshotter.metrics_address %q: %w", cfg.MetricsAddress, err)
		}
		ls.metrics = l
		ls.closers = append(ls.closers, func() { l.Close() })
	}
	if cfg.UsageSocket != "" {
		l, err := listenUnix(cfg.UsageSocket)
		if err != nil {
			return nil, fmt.Errorf("snapshotter.usage_socket %q: %w", cfg.UsageSocket, err)
		}
		ls.usage = l
		ls.closers = append(ls.closers, func() { l.Close(); _ = os.Remove(cfg.UsageSocket) })
	}
	l, err := listenUnix(cfg.Address)
	if err != nil {
		return nil, err
	}
	ls.grpc = l
	// The gRPC server closes its listener; the socket file is ours.
	ls.closers = append(ls.closers, func() { _ = os.Remove(cfg.Address) })
	return ls, nil
}

// close closes what listen opened, last first.
func (ls *listeners) close() {
	for i := len(ls.closers) - 1; i >= 0; i-- {
		ls.closers[i]()
	}
	ls.closers = nil
}

// serveHTTP serves h at path on l until the server is shut down; a failure
// to serve goes to errc.
func serveHTTP(l net.Listener, path string, h http.Handler, errc chan<- error) *http.Server {
	mux := http.NewServeMux()
	mux.Handle(path, h)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: httpIdleTimeout}
	// Scrapers that open connections and keep them must not take the file
	// descriptors containerd's calls need.
	l = netutil.LimitListener(l, httpMaxConns)
	go func() {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s server: %w", path, err)
		}
	}()
	return hs
}

// stop lets in-flight calls finish, for at most shutdownGrace, then stops
// the HTTP servers.
func stop(srv *grpc.Server, httpSrvs []*http.Server) {
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownGrace):
		srv.Stop()
	}
	for _, hs := range httpSrvs {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = hs.Shutdown(sctx)
		cancel()
	}
}

// listenUnix serves on path, root only (unixsock.Listen), naming this
// daemon when another serves there.
func listenUnix(path string) (net.Listener, error) {
	l, err := unixsock.Listen(path)
	if errdefs.IsAlreadyExists(err) {
		return nil, fmt.Errorf("%w (a second brisk-snapshotter?)", err)
	}
	return l, err
}

// usageHandler serves the usage report for briskctl usage.
func usageHandler(sn *snapshotter.Snapshotter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		report, err := sn.Report(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		limit, inUse := sn.Budget()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(usageapi.UsageReport{Snapshots: report, Budget: limit, BudgetInUse: inUse})
	}
}
