package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/process"
	"github.com/containerd/fifo"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"
)

// consumers are where the client asked the task's output to go: FIFOs (ctr,
// CRI), a file:// path, a binary:// logger, or nowhere (ctr run -d). Brisk
// puts its own FIFOs in the request and forwards every byte to them.
type consumers struct {
	stdout, stderr io.WriteCloser // nil: nobody asked
	// stdoutKeep and stderrKeep are read ends of the client's FIFOs that
	// the shim holds and never reads, as runc's shim does: a FIFO whose
	// client went away (ctr run -d) keeps what is written to it and makes
	// the writer wait when full, rather than failing, so that a later
	// `ctr tasks attach`, which opens the same FIFOs, gets it.
	stdoutKeep, stderrKeep io.Closer
	logger                 *exec.Cmd
}

// openConsumers opens the destinations the client named in the request.
// With a terminal, the console is the one stream: stderr is not opened,
// whatever it names, as the runc shim ignores it (containerd's client names
// a FIFO it never creates).
func openConsumers(ctx context.Context, id, ns, stdout, stderr string, terminal bool) (_ *consumers, retErr error) {
	c := &consumers{}
	if u, ok := parseURI(stdout); ok && u.Scheme == "binary" {
		return c, c.startLogger(u, id, ns, loggerReadyTimeout)
	}
	defer func() {
		if retErr != nil {
			c.close()
		}
	}()
	var err error
	if c.stdout, c.stdoutKeep, err = openOne(ctx, stdout); err != nil {
		return nil, fmt.Errorf("open stdout %q: %w", stdout, err)
	}
	if terminal {
		return c, nil
	}
	if c.stderr, c.stderrKeep, err = openOne(ctx, stderr); err != nil {
		return nil, fmt.Errorf("open stderr %q: %w", stderr, err)
	}
	return c, nil
}

func parseURI(s string) (*url.URL, bool) {
	if s == "" {
		return nil, false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return nil, false
	}
	return u, true
}

// openOne opens a destination for writing; for a FIFO it also returns a read
// end to hold (see consumers).
func openOne(ctx context.Context, target string) (io.WriteCloser, io.Closer, error) {
	if target == "" {
		return nil, nil, nil
	}
	u, ok := parseURI(target)
	if ok && u.Scheme == "file" {
		if err := os.MkdirAll(filepath.Dir(u.Path), 0o755); err != nil {
			return nil, nil, err
		}
		f, err := os.OpenFile(u.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		return f, nil, err
	}
	if ok && u.Scheme != "fifo" {
		return nil, nil, fmt.Errorf("unsupported stdio scheme %q", u.Scheme)
	}
	path := target
	if ok {
		path = u.Path
	}
	// Opened in the background (the fifo package), completing once a
	// reader is there: at once, with the read end held below.
	w, err := fifo.OpenFifo(context.WithoutCancel(ctx), path, syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	keep, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		w.Close()
		return nil, nil, err
	}
	return w, &onceCloser{c: keep}, nil
}

// onceCloser closes once, whoever asks first: the forwarder when the output
// ends, the consumers on every way out.
type onceCloser struct {
	once sync.Once
	c    io.Closer
}

func (o *onceCloser) Close() error {
	o.once.Do(func() { _ = o.c.Close() })
	return nil
}

// startLogger starts a binary:// logging binary the way the runc shim does:
// stdout and stderr pipes on fds 3 and 4, and fd 5 that it closes when ready.
// Whatever was opened is closed again on every way out but success, and a
// logger that is not ready in time is killed and reaped (runc's closers).
func (c *consumers) startLogger(u *url.URL, id, ns string, readyTimeout time.Duration) (retErr error) {
	var closers []func() error
	defer func() {
		if retErr != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()
	var ends [6]*os.File // out r/w, err r/w, ready r/w
	for i := 0; i < len(ends); i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			return fmt.Errorf("logging binary %s: %w", u.Path, err)
		}
		ends[i], ends[i+1] = r, w
		closers = append(closers, r.Close, w.Close)
	}
	outR, outW, errR, errW, readyR, readyW := ends[0], ends[1], ends[2], ends[3], ends[4], ends[5]
	cmd := process.NewBinaryCmd(u, id, ns)
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start logging binary %s: %w", u.Path, err)
	}
	closers = append(closers, func() error {
		_ = cmd.Process.Kill()
		return cmd.Wait()
	})
	// The logger holds its ends now; ours would keep it from seeing EOF.
	process.CloseFiles(outR, errR, readyW)
	// Wait for the logger to be ready, as the runc shim does. Closing
	// readyR ends this read if the logger never answers.
	ready := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, readyR); close(ready) }()
	closers = append(closers, func() error {
		err := readyR.Close()
		<-ready
		return err
	})
	select {
	case <-ready:
	case <-time.After(readyTimeout):
		return fmt.Errorf("logging binary %s not ready after %v", u.Path, readyTimeout)
	}
	readyR.Close()
	c.stdout, c.stderr, c.logger = outW, errW, cmd
	return nil
}

func (c *consumers) close() {
	for _, w := range []io.Closer{c.stdout, c.stderr, c.stdoutKeep, c.stderrKeep} {
		if w != nil {
			w.Close()
		}
	}
	if c.logger != nil {
		done := make(chan struct{})
		go func() { _ = c.logger.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(loggerExitWait):
			_ = c.logger.Process.Kill()
			<-done
		}
	}
}

// forwarder feeds one consumer. A consumer that keeps up is written to by
// the reader itself, without a copy or a hand-off to run: see offer. What
// its pipe does not take at once is queued, and the queue is bounded:
//   - waiting (logs.slow_consumer = "wait", the default): past the bound the
//     reader waits for the consumer, so the task waits as under runc, where
//     the pipe applies backpressure; the consumer gets every byte;
//   - dropping ("drop"): past the bound the consumer's copy is dropped and
//     counted, and a consumer that reads slowly, or never, cannot hold up
//     the task.
//
// The spool gets every byte either way: it is written before the consumer
// is offered the chunk, and once the task has exited (release) the reader no
// longer waits, so that it reaches the end of the output.
type forwarder struct {
	w        io.Writer
	keep     io.Closer // our read end of the consumer's FIFO, if any
	mu       sync.Mutex
	cond     *sync.Cond // run: a chunk is queued, or closed
	room     *sync.Cond // a waiting offer: run took a chunk, or released, or closed
	queue    [][]byte
	queued   int
	limit    int
	wait     bool // offer waits for room rather than dropping
	released bool // the task exited: offer no longer waits
	closed   bool
	busy     bool            // run is writing a chunk it took out of the queue
	direct   syscall.RawConn // the consumer's non-blocking pipe, once open
	dropped  atomic.Int64
	err      atomic.Value // first write error
	done     chan struct{}
}

// forwarderOpt configures a forwarder.
type forwarderOpt func(*forwarder)

// withWait makes offer wait for room in the queue instead of dropping, until
// release.
func withWait() forwarderOpt { return func(f *forwarder) { f.wait = true } }

// withKeep hands the forwarder the read end it holds on the consumer's FIFO,
// closed when the output ends, so that only the client's reader is waited
// for then.
func withKeep(c io.Closer) forwarderOpt { return func(f *forwarder) { f.keep = c } }

func newForwarder(w io.Writer, limit int, opts ...forwarderOpt) *forwarder {
	f := &forwarder{w: w, limit: limit, done: make(chan struct{})}
	for _, o := range opts {
		o(f)
	}
	f.cond = sync.NewCond(&f.mu)
	f.room = sync.NewCond(&f.mu)
	go f.run()
	return f
}

// offer hands p to the consumer: written at once as far as the consumer's
// pipe takes it when nothing is ahead of it, the rest queued (a copy). Most
// chunks of a consumer that keeps up thus cost one write(2), not a copy and
// a wake-up of run, which was most of the shim's CPU per byte beyond the runc
// shim's. Behind a full queue, offer waits or drops (see forwarder).
func (f *forwarder) offer(p []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.direct != nil && len(f.queue) == 0 && !f.busy && !f.closed {
			n, err := writeNonblocking(f.direct, p)
			if err != nil && !errors.Is(err, unix.EAGAIN) {
				// The consumer went away, as in run: dropped, counted.
				f.err.CompareAndSwap(nil, err.Error())
				f.dropped.Add(int64(len(p) - n))
				return
			}
			if p = p[n:]; len(p) == 0 {
				return
			}
		}
		// Behind a consumer that lags, reads pack into the last queued
		// chunk (run takes a chunk out of the queue before writing it).
		if n := len(f.queue); n > 0 {
			if last := f.queue[n-1]; len(last)+len(p) <= cap(last) {
				f.queue[n-1] = append(last, p...)
				return
			}
		}
		// The bound is on the memory held, not on the bytes: a task
		// writing a line at a time to a consumer that stalls must not pin
		// a pooled chunk per line. An empty queue always takes one chunk.
		if len(f.queue) == 0 || f.queued+max(chunkSize, len(p)) <= f.limit {
			break
		}
		if !f.wait || f.released || f.closed {
			f.dropped.Add(int64(len(p)))
			return
		}
		// The task waits for its consumer, as it would on runc's pipe.
		f.room.Wait()
	}
	chunk := append(getChunk(len(p)), p...)
	f.queue = append(f.queue, chunk)
	f.queued += cap(chunk)
	f.cond.Signal()
}

// release ends waiting: the task exited, and what is left in the FIFOs must
// reach the spool now, whatever the consumer's pace. Past the bound what
// remains for the consumer (a daemon that inherited the task's stdout and
// goes on writing) is dropped and counted.
func (f *forwarder) release(limit int) {
	f.mu.Lock()
	f.released = true
	f.limit = max(f.limit, limit)
	f.room.Broadcast()
	f.mu.Unlock()
}

func (f *forwarder) run() {
	defer close(f.done)
	probed := false
	for {
		f.mu.Lock()
		for len(f.queue) == 0 && !f.closed {
			f.cond.Wait()
		}
		if len(f.queue) == 0 && f.closed {
			f.mu.Unlock()
			return
		}
		chunk := f.queue[0]
		f.queue = f.queue[1:]
		f.busy = true
		f.mu.Unlock()
		_, err := f.w.Write(chunk)
		putChunk(chunk)
		var direct syscall.RawConn
		if err == nil && !probed {
			// Open now (a FIFO opens when its reader does): from here
			// on the reader may write to it itself.
			probed = true
			direct = nonblockingPipe(f.w)
		}
		f.mu.Lock()
		f.queued -= cap(chunk)
		f.busy = false
		if direct != nil {
			f.direct = direct
		}
		// A waiting offer is woken once half the queue is free, not per
		// chunk: behind a consumer that sets the pace, the reader then
		// takes several reads at a time rather than one wake-up each.
		if f.queued <= f.limit/2 {
			f.room.Broadcast()
		}
		f.mu.Unlock()
		if err != nil {
			f.err.CompareAndSwap(nil, err.Error())
			// The consumer went away (ctr killed, CRI restarted):
			// keep draining so the queue never fills with stale data.
			f.dropped.Add(int64(len(chunk)))
		}
	}
}

// nonblockingPipe is w's descriptor when w is a pipe or FIFO in
// non-blocking mode (Go's for every pipe it opens), which a write never
// waits on; nil otherwise (a file:// target, a test's writer).
func nonblockingPipe(w io.Writer) syscall.RawConn {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	ok = false
	err = raw.Control(func(fd uintptr) {
		var st unix.Stat_t
		if unix.Fstat(int(fd), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			return
		}
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		ok = err == nil && fl&unix.O_NONBLOCK != 0
	})
	if err != nil || !ok {
		return nil
	}
	return raw
}

// writeNonblocking writes what the pipe behind raw takes of p now: n < len(p)
// with EAGAIN when it is full.
func writeNonblocking(raw syscall.RawConn, p []byte) (n int, err error) {
	cerr := raw.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := unix.Write(int(fd), p[n:])
			if e == unix.EINTR {
				continue
			}
			if e != nil || m == 0 {
				err = e
				break
			}
			n += m
		}
		return true // never wait: the caller queues the rest
	})
	if err == nil {
		err = cerr
	}
	return n, err
}

// chunkSize is what a capture reads at once; queued copies of that size
// are reused rather than left to the garbage collector, which at a task's
// full output rate would otherwise cost the shim more CPU than the copying.
const chunkSize = 64 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

func getChunk(n int) []byte {
	if n > chunkSize {
		return make([]byte, 0, n)
	}
	return (*chunks.Get().(*[]byte))[:0]
}

func putChunk(b []byte) {
	if cap(b) == chunkSize {
		chunks.Put(&b)
	}
}

// close flushes what is queued, waiting at most timeout for a slow consumer.
// The read end the shim held is closed first: from here on only a client's
// reader counts, and with none (ctr run -d, nobody attached) the rest is
// gone at once, as when runc's shim closes the FIFO.
func (f *forwarder) close(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	f.mu.Lock()
	f.closed = true
	f.cond.Signal()
	f.room.Broadcast()
	f.mu.Unlock()
	if f.keep != nil {
		_ = f.keep.Close()
	}
	select {
	case <-f.done:
	case <-time.After(timeout):
		log.G(ctx).WithField("queued", f.queued).Warn("consumer did not take the rest of the output in time")
		return
	}
	waitDrained(f.w, deadline)
}

// stop ends the forwarder at once, dropping what is queued: the task it
// served was never created.
func (f *forwarder) stop() {
	f.mu.Lock()
	f.closed = true
	for _, c := range f.queue {
		putChunk(c)
	}
	f.queue, f.queued = nil, 0
	f.cond.Signal()
	f.room.Broadcast()
	f.mu.Unlock()
	if f.keep != nil {
		_ = f.keep.Close()
	}
	<-f.done
}

// waitDrained waits until the reader of a pipe has read what is buffered in
// it, or no reader is left. containerd's client closes its FIFOs as soon as
// it deletes the task, dropping what it had not read yet; the exit is shown
// to it only after this returns.
func waitDrained(w io.Writer, deadline time.Time) {
	sc, ok := w.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	for time.Now().Before(deadline) {
		n, readers, ierr := 0, true, error(nil)
		if err := raw.Control(func(fd uintptr) {
			// TIOCINQ is FIONREAD on Linux: bytes still buffered in the pipe.
			n, ierr = unix.IoctlGetInt(int(fd), unix.TIOCINQ)
			// A pipe's write end polls POLLERR once no reader is left.
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			if _, perr := unix.Poll(pfd, 0); perr == nil && pfd[0].Revents&unix.POLLERR != 0 {
				readers = false
			}
		}); err != nil || ierr != nil || n == 0 || !readers {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
