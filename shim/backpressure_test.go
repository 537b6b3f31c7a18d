package shim

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// gated is a consumer that takes nothing until opened, then everything.
type gated struct {
	open chan struct{}
	b    bytes.Buffer
}

func (g *gated) Write(p []byte) (int, error) { <-g.open; return g.b.Write(p) }

// full reports whether the forwarder's queue has no room for another chunk:
// the next offer must wait or drop.
func full(f *forwarder) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue) > 0 && f.queued+chunkSize > f.limit
}

// TestForwarderSlowConsumer: a consumer that stalls until the queue is full
// and then reads gets every byte in order when the task waits for it
// ("wait"), and loses some, counted, under "drop".
func TestForwarderSlowConsumer(t *testing.T) {
	const limit = 4 * chunkSize
	for _, tc := range []struct {
		name        string
		opts        []forwarderOpt
		wantDropped bool
	}{
		{name: "wait", opts: []forwarderOpt{withWait()}},
		{name: "drop", wantDropped: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &gated{open: make(chan struct{})}
			f := newForwarder(w, limit, tc.opts...)
			// The consumer starts reading once the queue is full, so
			// that an offer has met a full queue by then.
			go func() {
				for !full(f) {
					time.Sleep(time.Millisecond)
				}
				close(w.open)
			}()
			var want bytes.Buffer
			for i := 0; i < 64; i++ {
				p := bytes.Repeat([]byte{byte('a' + i%26)}, chunkSize-i)
				want.Write(p)
				f.offer(p)
			}
			f.close(context.Background(), time.Minute)
			dropped := f.dropped.Load()
			if tc.wantDropped {
				if dropped == 0 {
					t.Fatalf("%d bytes offered to a stalled consumer past the bound, none dropped", want.Len())
				}
				return
			}
			if dropped != 0 || !bytes.Equal(w.b.Bytes(), want.Bytes()) {
				t.Fatalf("consumer got %d bytes (%d dropped), want %d in order", w.b.Len(), dropped, want.Len())
			}
		})
	}
}

// TestForwarderReleaseEndsWaiting: once the task exited, offer no longer
// waits for a consumer that does not read, so the capture reaches the end of
// the output (and the spool all of it); the consumer still gets it after.
func TestForwarderReleaseEndsWaiting(t *testing.T) {
	const limit = 4 * chunkSize
	w := &gated{open: make(chan struct{})}
	f := newForwarder(w, limit, withWait())
	var want bytes.Buffer
	p := bytes.Repeat([]byte("x"), chunkSize)
	for !full(f) {
		want.Write(p)
		f.offer(p)
	}
	f.release(consumerQueue)
	// Without release this offer would wait for the consumer for ever.
	for i := 0; i < 16; i++ {
		want.Write(p)
		f.offer(p)
	}
	close(w.open)
	f.close(context.Background(), time.Minute)
	if f.dropped.Load() != 0 || !bytes.Equal(w.b.Bytes(), want.Bytes()) {
		t.Fatalf("consumer got %d bytes (%d dropped), want %d", w.b.Len(), f.dropped.Load(), want.Len())
	}
}

// TestConsumerFIFOKeptForAttach: as under runc, the shim holds a read end of
// the client's FIFO, so output written after the client went away (ctr run
// -d exited) stays in the FIFO for whoever opens it next (ctr tasks attach)
// instead of failing with EPIPE and being dropped.
func TestConsumerFIFOKeptForAttach(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	// The client (ctr run -d) opens its read end, then goes away.
	client, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := openConsumers(context.Background(), "id", "ns", path, "", false)
	if err != nil {
		t.Fatal(err)
	}
	f := newForwarder(c.stdout, waitQueue, withWait(), withKeep(c.stdoutKeep))
	f.offer([]byte("unread by the client\n"))
	// Written once the FIFO opened for writing (run then writes direct).
	for !direct(f) {
		time.Sleep(time.Millisecond)
	}
	client.Close()
	f.offer([]byte("while nobody reads\n"))
	// ctr tasks attach opens the same FIFO.
	attach, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer attach.Close()
	got := make(chan string)
	go func() {
		var b bytes.Buffer
		if _, err := b.ReadFrom(attach); err != nil {
			t.Error(err)
		}
		got <- b.String()
	}()
	f.offer([]byte("after\n"))
	f.close(context.Background(), time.Minute)
	c.close()
	if want, got := "unread by the client\nwhile nobody reads\nafter\n", <-got; got != want || f.dropped.Load() != 0 {
		t.Fatalf("attach got %q (%d bytes dropped, error %v), want %q", got, f.dropped.Load(), f.err.Load(), want)
	}
}

func direct(f *forwarder) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.direct != nil
}

// TestWaitDrainedNoReader: output left in a FIFO nobody reads any more is
// not waited for: the exit is shown at once, as under runc.
func TestWaitDrainedNoReader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("unread\n")); err != nil {
		t.Fatal(err)
	}
	r.Close()
	const wait = time.Minute
	start := time.Now()
	waitDrained(w, start.Add(wait))
	if time.Since(start) >= wait {
		t.Fatalf("waited the whole %v for a FIFO with no reader", wait)
	}
}
