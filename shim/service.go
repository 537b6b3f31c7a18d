// Package shim is containerd-shim-brisk-v2's task service: containerd's runc
// v2 task service, unchanged for every call, with each container's init
// output captured to a spool on fast local storage and, when the task exits,
// handed to the node's log daemon (brisk-logd), which ships it as one object.
package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

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
	"github.com/brisk-containers/brisk/logs/handoff"
	"github.com/brisk-containers/brisk/logs/spool"
)

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
	handoff   *handoff.Client
	node      string

	mu    sync.Mutex
	tasks map[string]*capture // by container ID
	exits sync.WaitGroup      // tasks whose end (taskExit.run) is not over
}

// Opt configures a Service.
type Opt func(*Service)

// WithLogs sets the [logs] configuration. Without it the shim runs on the
// defaults, as on a node with no configuration file.
func WithLogs(l config.Logs) Opt { return func(s *Service) { s.cfg = l } }

// WithConfigError tells the shim that its configuration could not be loaded:
// every Create fails with err, which names the key, so that nothing runs
// uncaptured. The shim still starts: containerd would only see a broken
// runtime.
func WithConfigError(err error) Opt { return func(s *Service) { s.cfgErr = err } }

// New builds the service around runc's, with the configuration the command
// loaded (WithLogs, WithConfigError).
func New(ctx context.Context, publisher shim.Publisher, sd shutdown.Service, opts ...Opt) (*Service, error) {
	s := &Service{ctx: ctx, publisher: publisher, cfg: config.DefaultLogs(), tasks: map[string]*capture{}}
	for _, o := range opts {
		o(s)
	}
	inner, err := task.NewTaskService(ctx, &exitGate{Publisher: publisher, s: s}, sd)
	if err != nil {
		return nil, err
	}
	s.TTRPCTaskService = inner
	s.node, _ = os.Hostname()
	if s.cfgErr == nil {
		s.cfgErr = s.cfg.Validate()
	}
	if s.cfgErr != nil {
		log.G(ctx).WithError(s.cfgErr).Error("brisk configuration is invalid; tasks will be refused")
	} else {
		s.fsync = fsyncPolicy(s.cfg)
		// brisk-logd ships every finished log, and what dead shims left.
		s.handoff = handoff.New(s.cfg.API.Socket)
	}
	sd.RegisterCallback(s.waitExits)
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
	c.exit = newTaskExit(r.ID, captureSteps{s: s, c: c})
	s.mu.Lock()
	s.tasks[r.ID] = c
	s.mu.Unlock()
	s.exits.Add(1)
	go func() {
		defer s.exits.Done()
		c.exit.run(namespaces.WithNamespace(s.ctx, ns))
	}()
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
			c.exit.waitMeasured()
		}
	}
	return s.TTRPCTaskService.Delete(ctx, r)
}

// waitExits keeps the shim process alive, after containerd's Shutdown
// returned, until the end of every task is over (step 9 in lifecycle.go):
// entries handed over, consumers flushed.
func (s *Service) waitExits(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.exits.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}
