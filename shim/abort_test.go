package shim

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// settledGoroutines is the goroutine count once short-lived ones have ended.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 100 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestFailedCreatesLeaveNoGoroutines: a Create that fails after the capture
// was set up (runc refused the task) aborts it; nothing it started may stay
// parked, or a shim serving a crash-looping pod grows without bound.
func TestFailedCreatesLeaveNoGoroutines(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(dir, "spool")
	s := &Service{cfg: cfg}
	ctx := namespaces.WithNamespace(context.Background(), "ns")
	// Warm up what starts once per process (os/signal, the fifo package).
	before := settledGoroutines(0)
	for i := 0; i < 50; i++ {
		id := "task-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		stdout := "file://" + filepath.Join(dir, "out", id+".out")
		stderr := "file://" + filepath.Join(dir, "out", id+".err")
		c, err := s.newCapture(ctx, "ns", id, spool.Meta{ID: id}, &stdout, &stderr, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.fwd) != 2 {
			t.Fatalf("%d forwarders, want one per stream", len(c.fwd))
		}
		c.abort()
	}
	if after := settledGoroutines(before); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("50 failed creates left %d goroutines parked:\n%s", after-before, buf[:runtime.Stack(buf, true)])
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestLoggerNotReadyIsReaped: a binary:// logger that never says it is
// ready is killed, reaped, and every pipe opened for it closed.
func TestLoggerNotReadyIsReaped(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "logger")
	// Never closes fd 5; exec keeps one process to kill.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, wantErr string
	}{
		{"never ready", script, "not ready"},
		{"does not start", filepath.Join(dir, "missing"), "start logging binary"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fds := openFDs(t)
			c := &consumers{}
			err := c.startLogger(&url.URL{Scheme: "binary", Path: tc.path}, "id", "ns", 300*time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("startLogger = %v, want an error saying %q", err, tc.wantErr)
			}
			if n := openFDs(t); n != fds {
				t.Errorf("%d file descriptors left open", n-fds)
			}
			// No child of ours is left, running or unreaped.
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid > 0 || err == nil {
				t.Errorf("a logger is left unreaped: wait4 = %d, %v", pid, err)
			}
		})
	}
}

// stalled is a consumer that never takes anything.
type stalled struct{ release chan struct{} }

func (s stalled) Write(p []byte) (int, error) { <-s.release; return len(p), nil }

// TestForwarderBoundsMemoryHeld: a task writing a line at a time while its
// consumer stalls must not pin more memory than the queue's bound.
func TestForwarderBoundsMemoryHeld(t *testing.T) {
	const limit = 256 << 10
	w := stalled{release: make(chan struct{})}
	f := newForwarder(w, limit)
	for i := 0; i < 2000; i++ {
		f.offer([]byte("one line\n"))
	}
	f.mu.Lock()
	held := 0
	for _, c := range f.queue {
		held += cap(c)
	}
	f.mu.Unlock()
	if held > limit {
		t.Errorf("2000 lines queued for a stalled consumer hold %d KiB, bound %d KiB", held>>10, limit>>10)
	}
	close(w.release)
	f.close(context.Background(), time.Second)
}

// slowBuffer takes its time over each write, so that reads pack into
// queued chunks.
type slowBuffer struct{ b bytes.Buffer }

func (s *slowBuffer) Write(p []byte) (int, error) {
	time.Sleep(100 * time.Microsecond)
	return s.b.Write(p)
}

// TestForwarderDeliversInOrder: reads of every size, packed or not into
// queued chunks, reach the consumer whole and in order.
func TestForwarderDeliversInOrder(t *testing.T) {
	var want bytes.Buffer
	w := &slowBuffer{}
	f := newForwarder(w, 64<<20)
	for i := 0; i < 600; i++ {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 1+(i*7919)%(chunkSize/8)+(i%5/4)*chunkSize)
		want.Write(p)
		f.offer(p)
	}
	f.close(context.Background(), time.Minute)
	if f.dropped.Load() != 0 || !bytes.Equal(w.b.Bytes(), want.Bytes()) {
		t.Fatalf("consumer got %d bytes (%d dropped), want %d in order", w.b.Len(), f.dropped.Load(), want.Len())
	}
}

// TestForwarderDirectWritesInOrder: through a real pipe whose reader pauses
// now and then, chunks written at once by offer, cut short by a full pipe
// and queued behind, reach the consumer whole and in order.
func TestForwarderDirectWritesInOrder(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 4096)
		for i := 0; ; i++ {
			if i%64 == 0 {
				time.Sleep(time.Millisecond)
			}
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				got <- b.Bytes()
				return
			}
		}
	}()
	f := newForwarder(w, 64<<20)
	var want bytes.Buffer
	for i := 0; i < 3000; i++ {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 1+(i*7919)%(chunkSize/2))
		want.Write(p)
		f.offer(p)
	}
	f.mu.Lock()
	direct := f.direct != nil
	f.mu.Unlock()
	f.close(context.Background(), time.Minute)
	w.Close()
	b := <-got
	if !direct {
		t.Error("a pipe consumer was never written to directly")
	}
	if f.dropped.Load() != 0 || !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("consumer got %d bytes (%d dropped), want %d in order", len(b), f.dropped.Load(), want.Len())
	}
}
