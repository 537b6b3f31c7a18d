package shim

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/fifo"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// consumerQueue bounds what is buffered for one slow consumer under
// logs.slow_consumer = "drop", and for any consumer once the task exited.
const consumerQueue = 4 << 20

// waitQueue bounds what is buffered for one slow consumer under
// logs.slow_consumer = "wait" before the task waits: a few reads, so that the
// task runs about as far ahead of its consumer as on runc's pipes.
const waitQueue = 4 * chunkSize

// capture is one task's output path: the runc shim writes into our FIFOs,
// copiers put every chunk into the spool entry and offer it to the client's
// original destination.
type capture struct {
	ns, id string // containerd namespace, container ID
	dir    string // our FIFOs
	// stdout and stderr are what the client asked for, which State reports
	// as runc's shim does: `ctr tasks attach` opens them.
	stdout, stderr string
	entry          *spool.Entry
	consumers      *consumers
	fifos          []io.ReadCloser
	fwd            []*forwarder
	copied         sync.WaitGroup
	upperdir       string
	started        time.Time

	// exit is the task's end, from its exit to its upload (lifecycle.go).
	exit *taskExit
	// spoolFailed makes a failing spool warn once per task, not per chunk.
	spoolFailed sync.Once
}

// newCapture opens the consumers and the run's spool entry, makes the FIFOs
// for the task, and rewrites stdout and stderr to point at our FIFOs.
func (s *Service) newCapture(ctx context.Context, ns, id string, meta spool.Meta, stdout, stderr *string, terminal bool) (_ *capture, retErr error) {
	c := &capture{ns: ns, id: id, stdout: *stdout, stderr: *stderr, started: time.Now()}
	defer func() {
		if retErr != nil {
			c.abort()
		}
	}()
	var err error
	if c.consumers, err = openConsumers(ctx, id, ns, *stdout, *stderr, terminal); err != nil {
		return nil, err
	}
	meta.Namespace, meta.ContainerID, meta.Node, meta.Started = ns, id, s.node, c.started
	// Every run has an entry of its own: an earlier run of the same ID,
	// running, uploading or waiting for S3, never refuses or loses this one.
	c.entry, err = spool.Open(s.cfg.SpoolDir, meta, spool.WithMaxBytes(int64(s.cfg.MaxBytes)), spool.WithFsync(s.fsync))
	if err != nil {
		return nil, err
	}
	c.dir = spool.FifoDir(c.entry.Dir())
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	type stream struct {
		name   spool.Stream
		target *string
		dest   io.Writer
		keep   io.Closer
	}
	streams := []stream{{spool.Stdout, stdout, c.consumers.stdout, c.consumers.stdoutKeep}}
	// With a TTY the console carries both streams into stdout.
	if !terminal {
		streams = append(streams, stream{spool.Stderr, stderr, c.consumers.stderr, c.consumers.stderrKeep})
	}
	for _, st := range streams {
		path := filepath.Join(c.dir, string(st.name))
		// Opened for reading now, so that the runc shim's open for writing
		// never waits on us.
		r, err := fifo.OpenFifo(context.WithoutCancel(ctx), path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create capture fifo: %w", err)
		}
		c.fifos = append(c.fifos, r)
		var fw *forwarder
		if st.dest != nil && !isNil(st.dest) {
			opts := []forwarderOpt{withKeep(st.keep)}
			limit := consumerQueue
			if s.cfg.SlowConsumer != config.SlowConsumerDrop {
				opts, limit = append(opts, withWait()), waitQueue
			}
			fw = newForwarder(st.dest, limit, opts...)
			c.fwd = append(c.fwd, fw)
		}
		*st.target = path
		c.copied.Add(1)
		go c.copy(r, st.name, fw)
	}
	return c, nil
}

func isNil(w io.Writer) bool {
	switch v := w.(type) {
	case *os.File:
		return v == nil
	}
	return false
}

// copy drains one FIFO until the task's side closes it.
func (c *capture) copy(r io.Reader, stream spool.Stream, fw *forwarder) {
	defer c.copied.Done()
	buf := make([]byte, chunkSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if err := c.entry.Write(stream, buf[:n]); err != nil {
				// The task goes on and the consumer still gets the
				// bytes; the shipped log says how many it lacks.
				c.spoolFailed.Do(func() {
					log.L.WithError(err).WithFields(log.Fields{"id": c.id, "namespace": c.ns}).Error("spool write failed; output is lost from the shipped log until it recovers")
				})
			}
			if fw != nil {
				fw.offer(buf[:n])
			}
		}
		if err != nil {
			return
		}
	}
}

// release stops the task's output from waiting for a slow consumer: the
// task exited, and the rest of its output, in the FIFOs, goes to the spool
// now whatever the consumer's pace.
func (c *capture) release() {
	for _, f := range c.fwd {
		f.release(consumerQueue)
	}
}

// drain waits for the copiers to reach EOF, at most timeout: a daemonised
// child that inherited stdout could keep it open forever.
func (c *capture) drain(timeout time.Duration) {
	done := make(chan struct{})
	go func() { c.copied.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		for _, f := range c.fifos {
			f.Close()
		}
		<-done
	}
}

// closeConsumers hands the consumers the rest and closes them.
func (c *capture) closeConsumers(ctx context.Context, timeout time.Duration) (dropped int64) {
	for _, f := range c.fwd {
		f.close(ctx, timeout)
		if n := f.dropped.Load(); n > 0 {
			dropped += n
			log.G(ctx).WithFields(log.Fields{"id": c.id, "dropped": n, "error": f.err.Load()}).Warn("output not delivered to the consumer")
		}
	}
	if c.consumers != nil {
		c.consumers.close()
	}
	return dropped
}

func (c *capture) abort() {
	for _, f := range c.fifos {
		f.Close()
	}
	// No copier waits for a consumer of a task that never ran.
	c.release()
	c.copied.Wait()
	for _, f := range c.fwd {
		f.stop()
	}
	if c.consumers != nil {
		c.consumers.close()
	}
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
	// The task never ran: its entry goes, with nothing shipped for it.
	if c.entry != nil {
		if err := c.entry.Discard(); err != nil {
			log.L.WithError(err).WithField("id", c.id).Warn("discard the spool entry of a task that was not created")
		}
	}
}
