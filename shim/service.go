// Package shim is containerd-shim-brisk-v2's task service: containerd's runc
// v2 task service, unchanged for every call, with each container's init
// output captured to a spool on fast local storage and shipped as one object
// when the task exits.
package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/logs/retrier"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// consumerFlushTimeout bounds how long output is still offered to a slow
// consumer after the task exited.
const consumerFlushTimeout = 60 * time.Second

// shimRetryPoll is how often a shim looks whether the node retrier is
// absent and the spool holds entries due for a retry.
const shimRetryPoll = 5 * time.Second

// UsageTopic is the event topic of the writable-layer usage at exit.
const UsageTopic = "/brisk/task/usage"

// Service wraps the runc task service.
type Service struct {
	taskAPI.TTRPCTaskService

	ctx       context.Context
	publisher shim.Publisher
	cfg       config.Logs
	cfgErr    error
	fsync     spool.FsyncPolicy
	shipper   *ship.Shipper
	node      string

	mu      sync.Mutex
	tasks   map[string]*capture // by container ID
	uploads sync.WaitGroup      // finish: exit, measure, ship
	flushes sync.WaitGroup      // output still owed to consumers
}

// New builds the service around runc's. A bad configuration does not stop
// the shim (containerd would only see a broken runtime): every Create then
// fails with the error naming the key, so nothing runs uncaptured.
func New(ctx context.Context, publisher shim.Publisher, sd shutdown.Service) (*Service, error) {
	s := &Service{ctx: ctx, publisher: publisher, tasks: map[string]*capture{}}
	inner, err := task.NewTaskService(ctx, &exitGate{Publisher: publisher, s: s}, sd)
	if err != nil {
		return nil, err
	}
	s.TTRPCTaskService = inner
	s.node, _ = os.Hostname()
	path, explicit := os.Getenv(config.EnvPath), true
	if path == "" {
		path, explicit = config.DefaultPath, false
	}
	cfg, err := config.Load(path, !explicit)
	if err != nil {
		s.cfgErr = err
		log.G(ctx).WithError(err).Error("brisk configuration is invalid; tasks will be refused")
	} else {
		for _, w := range cfg.Warnings() {
			log.G(ctx).Warn(w)
		}
		s.cfg = cfg.Logs
		s.fsync = fsyncPolicy(cfg.Logs)
		if s.shipper, err = ship.New(ctx, cfg.Logs); err != nil {
			s.cfgErr = err
		} else {
			// Entries left by shims that died or could not upload are
			// the node retrier's (brisk-snapshotter); while none runs,
			// the shims share its work under its lease.
			go retrier.New(s.shipper, cfg.Logs.SpoolDir, retrier.WithPoll(shimRetryPoll)).Fallback(ctx)
		}
	}
	sd.RegisterCallback(s.waitUploads)
	return s, nil
}

func fsyncPolicy(l config.Logs) spool.FsyncPolicy {
	switch l.Fsync {
	case config.FsyncAlways:
		return spool.FsyncPolicy{Always: true}
	case config.FsyncNever:
		return spool.FsyncPolicy{}
	case config.FsyncExit:
		return spool.FsyncPolicy{AtExit: true}
	}
	return spool.FsyncPolicy{Interval: l.FsyncInterval()}
}

// RegisterTTRPC serves this wrapper, not the inner service.
func (s *Service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	return nil
}

// Create captures the init process's output, then creates the task exactly
// as runc's shim does.
func (s *Service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	if s.cfgErr != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("brisk: %v: %w", s.cfgErr, errdefs.ErrInvalidArgument))
	}
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	if r.Options, err = RuncOptions(r.Options); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("brisk: create %s: %w", r.ID, err))
	}
	annotations := readAnnotations(r.Bundle)
	if annotations[config.AnnotationLogs] == "off" || annotations[criContainerType] == "sandbox" {
		return s.TTRPCTaskService.Create(ctx, r)
	}
	logID := LogID(r.ID, annotations)
	// An ID no entry or key can be made for is refused here, once, naming
	// what to change, rather than failing every upload for ever.
	if err := spool.ValidateID(logID); err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("brisk: create %s: %v: shorten %s: %w", r.ID, err, LogIDSource(annotations), errdefs.ErrInvalidArgument))
	}
	c, err := s.newCapture(ctx, ns, r.ID, spool.Meta{ID: logID, Pod: PodIdentity(annotations)}, &r.Stdout, &r.Stderr, r.Terminal)
	if err != nil {
		// The kind (invalid argument, ...) reaches the client.
		return nil, errgrpc.ToGRPC(fmt.Errorf("brisk: capture output of %s: %w", r.ID, err))
	}
	c.upperdir = usage.Upperdir(r.Rootfs)
	resp, err := s.TTRPCTaskService.Create(ctx, r)
	if err != nil {
		c.abort()
		return nil, err
	}
	s.mu.Lock()
	s.tasks[r.ID] = c
	s.mu.Unlock()
	s.uploads.Add(1)
	go s.finish(namespaces.WithNamespace(s.ctx, ns), c)
	return resp, nil
}

// readAnnotations reads the OCI spec annotations of a bundle; CRI and ctr
// --label both end up there for the container.
func readAnnotations(bundle string) map[string]string {
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err == nil {
		_ = json.Unmarshal(data, &spec)
	}
	return spec.Annotations
}

// finish runs once per task: waits for its exit and the end of its output,
// measures the writable layer, finalises the spool entry and ships it.
func (s *Service) finish(ctx context.Context, c *capture) {
	defer s.uploads.Done()
	exit, err := s.TTRPCTaskService.Wait(ctx, &taskAPI.WaitRequest{ID: c.id})
	code, exitedAt := -1, time.Now()
	if err == nil {
		code = int(exit.ExitStatus)
		if exit.ExitedAt != nil {
			exitedAt = exit.ExitedAt.AsTime()
		}
	}
	// What the task wrote before it exited is in the FIFOs: it reaches the
	// spool now, not at a slow consumer's pace.
	c.release()
	stats := s.readStats(ctx, c) // the cgroup lives until Delete, which waits for c.measured
	c.drain(10 * time.Second)
	// The client's consumer gets the rest at its own pace; shipping does
	// not wait for it, and a consumer that never reads cannot hold it up.
	s.flushes.Add(1)
	go func() {
		defer s.flushes.Done()
		defer close(c.flushed)
		if dropped := c.closeConsumers(ctx, consumerFlushTimeout); dropped > 0 {
			log.G(ctx).WithFields(log.Fields{"id": c.id, "dropped": dropped}).Warn("consumer did not read all output; the shipped log is complete")
		}
	}()
	var layer *usage.Layer
	if c.upperdir != "" {
		u, err := usage.Measure(ctx, c.upperdir)
		if err != nil {
			log.G(ctx).WithError(err).WithField("id", c.id).Warn("measure writable layer")
		} else {
			layer = &u
		}
	}
	close(c.measured)
	s.publishUsage(ctx, c, layer, stats)
	meta, err := c.entry.Finish(spool.ExitInfo{Code: code, Exited: exitedAt, Usage: layer, Stats: stats.Metadata()})
	if err != nil {
		log.G(ctx).WithError(err).WithField("id", c.id).Error("finalise spool entry; it stays for the retrier")
		c.entry.Release()
		return
	}
	_ = os.RemoveAll(c.dir)
	log.G(ctx).WithFields(log.Fields{"id": c.id, "exit": code, "stdout": meta.StdoutBytes, "stderr": meta.StderrBytes,
		"truncated": meta.Truncated, "usage": layer}).Info("task log captured")
	s.ship(ctx, c)
}

// ship uploads with back-off until upload_timeout; what is not delivered by
// then stays in the spool for the retrier.
func (s *Service) ship(ctx context.Context, c *capture) {
	defer c.entry.Release()
	deadline := time.Now().Add(time.Duration(s.cfg.UploadTimeout))
	backoff := 200 * time.Millisecond
	for {
		uctx, cancel := context.WithDeadline(ctx, deadline)
		err := s.shipper.Ship(uctx, c.entry.Claim())
		cancel()
		if err == nil {
			log.G(ctx).WithFields(log.Fields{"id": c.id, "store": s.shipper.Store().String()}).Info("task log shipped")
			return
		}
		if ship.IsPermanent(err) {
			if qerr := c.entry.Claim().Quarantine(err.Error()); qerr != nil {
				err = errors.Join(err, qerr)
			}
			log.G(ctx).WithError(err).WithField("id", c.id).Error("log can never ship: quarantined in the spool (briskctl flush lists it)")
			return
		}
		if time.Now().Add(backoff).After(deadline) {
			log.G(ctx).WithError(err).WithField("id", c.id).Warn("log not shipped within upload_timeout; left in the spool for retry")
			return
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 5*time.Second)
	}
}

// State reports the stdio the client asked for, as runc's shim does, not the
// capture FIFOs put in its place: containerd hands these paths to `ctr tasks
// attach`, which must join the client's FIFOs (a reader of ours would take
// bytes from the spool's copier).
func (s *Service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	resp, err := s.TTRPCTaskService.State(ctx, r)
	if err != nil || r.ExecID != "" {
		return resp, err
	}
	s.mu.Lock()
	c := s.tasks[r.ID]
	s.mu.Unlock()
	if c != nil {
		resp.Stdout, resp.Stderr = c.stdout, c.stderr
	}
	return resp, nil
}

// Delete lets the exit path measure the writable layer before runc's Delete
// unmounts the rootfs.
func (s *Service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	if r.ExecID == "" {
		s.mu.Lock()
		c := s.tasks[r.ID]
		delete(s.tasks, r.ID)
		s.mu.Unlock()
		if c != nil {
			select {
			case <-c.measured:
			case <-time.After(5 * time.Second):
			}
		}
	}
	return s.TTRPCTaskService.Delete(ctx, r)
}

// waitUploads keeps the shim process alive, after containerd's Shutdown
// returned, until its uploads are done or upload_timeout has passed.
func (s *Service) waitUploads(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.uploads.Wait(); s.flushes.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}
