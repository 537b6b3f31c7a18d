package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/v2/contrib/snapshotservice"
	"github.com/containerd/log"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spoolmetrics"
	"github.com/brisk-containers/brisk/snapshotter"
	"github.com/brisk-containers/brisk/snapshotter/metrics"
)

// shutdownGrace bounds how long in-flight calls may finish after SIGTERM.
// Nothing a container depends on stops with us, so a short grace suffices.
const shutdownGrace = 10 * time.Second

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

	// Bind everything before serving anything: a daemon that accepted
	// containerd's connection and then died on a taken metrics port would
	// look healthy for a moment.
	var hl net.Listener
	if cfg.MetricsAddress != "" {
		if hl, err = net.Listen("tcp", cfg.MetricsAddress); err != nil {
			return fmt.Errorf("snapshotter.metrics_address %q: %w", cfg.MetricsAddress, err)
		}
		defer hl.Close()
	}
	l, err := listenUnix(cfg.Address)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(profiled.GRPCServerOptions()...)
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(instrumented))

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(l) }()

	var httpSrv *http.Server
	if hl != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/v1/usage", usageHandler(sn))
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := httpSrv.Serve(hl); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics server: %w", err)
			}
		}()
	}

	log.G(ctx).WithFields(log.Fields{"address": cfg.Address, "root": cfg.Root, "upper": cfg.Upper, "profiles": len(cfg.Profiles), "metrics": cfg.MetricsAddress}).Info("brisk-snapshotter serving")
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.G(ctx).WithError(err).Warn("systemd notify failed")
	}

	select {
	case err = <-errc:
	case <-ctx.Done():
		log.G(ctx).Info("shutting down")
		_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(shutdownGrace):
		srv.Stop()
	}
	if httpSrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = httpSrv.Shutdown(sctx)
		cancel()
	}
	_ = os.Remove(cfg.Address)
	return err
}

// listenUnix serves on path with mode 0600: the socket hands out mounts of
// any container's filesystem, so only root may dial it.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// usageHandler serves the usage report as JSON for briskctl usage.
func usageHandler(sn *snapshotter.Snapshotter) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		report, err := sn.Report(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		limit, inUse := sn.Budget()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			Snapshots   []snapshotter.SnapshotUsage `json:"snapshots"`
			Budget      int64                       `json:"tmpfs_budget"`
			BudgetInUse int64                       `json:"tmpfs_budget_used"`
		}{report, limit, inUse})
	}
}
