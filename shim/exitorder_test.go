package shim

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/handoff"
	"github.com/brisk-containers/brisk/logs/spool"
)

// fakeRunc stands for runc's task service under the shim: it writes the
// task's output into the capture FIFOs as runc's init would, reports the
// exit when told, and answers Stats only when the test lets it.
type fakeRunc struct {
	taskAPI.TTRPCTaskService // calls the test does not expect panic

	output   string
	code     uint32
	exited   chan struct{} // closed: the init process died
	statsIn  chan struct{} // closed: the exit path asked for the stats
	statsGo  chan struct{} // closed: Stats answers
	statsHit sync.Once
	writers  []*os.File
}

func newFakeRunc(output string, code uint32) *fakeRunc {
	return &fakeRunc{output: output, code: code, exited: make(chan struct{}), statsIn: make(chan struct{}), statsGo: make(chan struct{})}
}

func (f *fakeRunc) Create(_ context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	for _, p := range []string{r.Stdout, r.Stderr} {
		w, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		f.writers = append(f.writers, w)
	}
	if _, err := io.WriteString(f.writers[0], f.output); err != nil {
		return nil, err
	}
	return &taskAPI.CreateTaskResponse{Pid: 42}, nil
}

// exit is the init process dying: its end of the FIFOs closes, then the
// shim reaps it.
func (f *fakeRunc) exit() {
	for _, w := range f.writers {
		w.Close()
	}
	close(f.exited)
}

func (f *fakeRunc) Wait(ctx context.Context, _ *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	select {
	case <-f.exited:
		return &taskAPI.WaitResponse{ExitStatus: f.code, ExitedAt: timestamppb.Now()}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *fakeRunc) Stats(context.Context, *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	f.statsHit.Do(func() { close(f.statsIn) })
	<-f.statsGo
	a, err := typeurl.MarshalAny(&v2.Metrics{CPU: &v2.CPUStat{UsageUsec: 1234}})
	if err != nil {
		return nil, err
	}
	return &taskAPI.StatsResponse{Stats: typeurl.MarshalProto(a)}, nil
}

func (f *fakeRunc) Delete(context.Context, *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	return &taskAPI.DeleteResponse{Pid: 42, ExitStatus: f.code}, nil
}

// heldLogd is a brisk-logd on a unix socket whose hand-off waits until the
// test lets it.
type heldLogd struct {
	socket string
	in     chan struct{} // closed: a hand-off came
	goOn   chan struct{} // closed: hand-offs are answered
	once   sync.Once
	n      atomic.Int32
}

func newHeldLogd(t *testing.T, socket string) *heldLogd {
	h := &heldLogd{socket: socket, in: make(chan struct{}), goOn: make(chan struct{})}
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != handoff.Path {
			http.NotFound(w, r)
			return
		}
		h.n.Add(1)
		h.once.Do(func() { close(h.in) })
		<-h.goOn
		w.WriteHeader(http.StatusAccepted)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return h
}

// recPublisher records the topics of the events the shim publishes.
type recPublisher struct {
	mu     sync.Mutex
	topics []string
}

func (p *recPublisher) Publish(_ context.Context, topic string, _ events.Event) error {
	p.mu.Lock()
	p.topics = append(p.topics, topic)
	p.mu.Unlock()
	return nil
}

func (p *recPublisher) Close() error { return nil }

// warnings collects the warnings logged while a test runs.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Levels() []log.Level { return []log.Level{log.WarnLevel} }

func (w *warnings) Fire(e *log.Entry) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, e.Message)
	w.mu.Unlock()
	return nil
}

func (w *warnings) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.msgs...)
}

func catchWarnings(t *testing.T) *warnings {
	w := &warnings{}
	saved := maps.Clone(log.L.Logger.Hooks)
	log.L.Logger.AddHook(w)
	t.Cleanup(func() { log.L.Logger.ReplaceHooks(saved) })
	return w
}

// within waits for ch, failing the test after a bound far beyond any wait
// of the shim's (a guard against a hang, not a timing).
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("%s: not within a minute", what)
	}
}

// entryDir is the spool entry of the test task's only run.
func entryDir(t *testing.T, spoolDir, ns, id string) string {
	t.Helper()
	runs, err := spool.Runs(spoolDir, ns, id)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs of %s/%s: %v %v", ns, id, runs, err)
	}
	return runs[0].Dir
}

// TestExitOrder drives one task through the Service's whole exit, with
// runc's task service and brisk-logd replaced by fakes that the test holds
// at each step:
//   - the exit is shown (Wait answered, TaskExit published) while the cgroup
//     statistics are still being read, without the gate giving up on a
//     timeout: the exit status waits for no cgroup read and no hand-off;
//   - the spool entry is still live until the statistics are in, and is
//     done, with the exit code, the statistics and every byte (the last
//     ones still in the FIFO at the exit too), and let go of, before
//     brisk-logd is told; a follower of the entry that sees it done has
//     read every record;
//   - the shim does not leave while the hand-off runs, and leaves once it
//     ended; it uploads nothing itself.
func TestExitOrder(t *testing.T) {
	warned := catchWarnings(t)
	dir := t.TempDir()
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(dir, "spool")
	cfg.API.Socket = filepath.Join(dir, "logd.sock")
	logd := newHeldLogd(t, cfg.API.Socket)
	const ns, id, output, last = "ns", "exit-order", "every line\nof the task\n", "and its last words\n"
	runc := newFakeRunc(output, 3)
	pub := &recPublisher{}
	s := &Service{TTRPCTaskService: runc, ctx: context.Background(), publisher: pub, cfg: cfg, handoff: handoff.New(cfg.API.Socket), tasks: map[string]*capture{}}
	gate := &exitGate{Publisher: pub, s: s}
	ctx := namespaces.WithNamespace(context.Background(), ns)

	bundle := filepath.Join(dir, "bundle")
	if err := os.Mkdir(bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, &taskAPI.CreateTaskRequest{ID: id, Bundle: bundle}); err != nil {
		t.Fatal(err)
	}
	entry := entryDir(t, cfg.SpoolDir, ns, id)

	// A follower of the spool entry, as the node log API has (issue 13):
	// once it sees the entry done, the log must hold every record.
	followed := make(chan struct{})
	var follow bytes.Buffer
	var finished bool
	var followErr error
	go func() {
		defer close(followed)
		var res spool.Followed
		res, followErr = spool.FollowLog(context.Background(), entry, 0, func(line []byte) error {
			if line == nil {
				return nil // caught up
			}
			r, err := spool.ParseRecord(line[:len(line)-1])
			if err == nil {
				follow.Write(r.Bytes())
			}
			return err
		})
		finished = res.End == spool.Finished
	}()

	waited := make(chan struct{})
	var waitResp *taskAPI.WaitResponse
	go func() {
		defer close(waited)
		waitResp, _ = s.Wait(ctx, &taskAPI.WaitRequest{ID: id})
	}()
	published := make(chan struct{})
	go func() {
		defer close(published)
		_ = gate.Publish(ctx, "/tasks/exit", &eventstypes.TaskExit{ID: id, ContainerID: id, ExitStatus: 3})
	}()
	// The task's last words are still in the FIFO when it exits.
	if _, err := io.WriteString(runc.writers[0], last); err != nil {
		t.Fatal(err)
	}
	runc.exit()
	within(t, runc.statsIn, "the exit path reads the cgroup statistics")

	// The statistics read is held: the exit is shown all the same.
	within(t, waited, "Wait answers")
	within(t, published, "TaskExit is published")
	for _, w := range warned.list() {
		if strings.Contains(w, "showing the exit anyway") {
			t.Fatalf("the exit was shown only when the gate gave up (%q): it waited for the cgroup statistics read", w)
		}
	}
	if waitResp == nil || waitResp.ExitStatus != 3 {
		t.Fatalf("Wait = %v, want exit status 3", waitResp)
	}
	if m, err := spool.ReadMeta(entry); err != nil || m.State != spool.StateLive {
		t.Fatalf("entry before the statistics are in: state %q (%v), want %q", m.State, err, spool.StateLive)
	}

	// The statistics come: the entry is finished and let go of before
	// brisk-logd is told.
	close(runc.statsGo)
	within(t, logd.in, "the shim hands the entry over")
	claim, err := spool.Lock(entry)
	if err != nil {
		t.Fatalf("entry when brisk-logd is told: %v; want it let go of, for brisk-logd to take", err)
	}
	claim.Release()
	m, err := spool.ReadMeta(entry)
	if err != nil {
		t.Fatal(err)
	}
	if m.State != spool.StateDone || m.ExitCode != 3 || m.Stats["cpu-ns"] != "1234000" {
		t.Fatalf("entry when brisk-logd is told: state %q, exit code %d, stats %v; want done, 3, cpu-ns 1234000", m.State, m.ExitCode, m.Stats)
	}
	var got bytes.Buffer
	if err := spool.Decode(mustOpen(t, spool.LogPath(entry)), func(r spool.Record) error {
		got.Write(r.Bytes())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got.String() != output+last {
		t.Fatalf("log when the entry is done: %q, want %q", got.String(), output+last)
	}
	within(t, followed, "the follower ends with the entry done")
	if !finished || followErr != nil || follow.String() != output+last {
		t.Fatalf("follower: finished %v, %v, read %q; want the entry done with %q", finished, followErr, follow.String(), output+last)
	}

	// The shim stays while the hand-off runs, and leaves once it ended.
	left := make(chan struct{})
	go func() { _ = s.waitExits(context.Background()); close(left) }()
	select {
	case <-left:
		t.Fatal("the shim may leave while the hand-off runs")
	default:
	}
	close(logd.goOn)
	within(t, left, "the shim may leave once the hand-off ended")
	if _, err := os.Stat(entry); err != nil {
		t.Errorf("entry after the hand-off: %v; want it in the spool, brisk-logd's to ship", err)
	}
	if n := logd.n.Load(); n != 1 {
		t.Errorf("%d hand-offs, want 1", n)
	}
}

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
