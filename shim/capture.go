package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/logs/spool"
)

// consumerQueue bounds what is buffered for one slow consumer.
const consumerQueue = 4 << 20

// capture is one task's output path: the runc shim writes into our FIFOs,
// copiers put every chunk into the spool entry and offer it to the client's
// original destination.
type capture struct {
	ns, id    string // containerd namespace, container ID
	dir       string // our FIFOs
	entry     *spool.Entry
	consumers *consumers
	fifos     []io.ReadCloser
	fwd       []*forwarder
	copied    sync.WaitGroup
	upperdir  string
	started   time.Time

	// measured is closed once the writable layer has been measured, so
	// Delete does not unmount the rootfs before.
	measured chan struct{}
	// flushed is closed once the consumers were handed all output.
	flushed chan struct{}
	// spoolFailed makes a failing spool warn once per task, not per chunk.
	spoolFailed sync.Once
}

// newCapture makes the FIFOs for the task, opens the consumers and the
// spool entry, and rewrites stdout and stderr to point at our FIFOs.
func (s *Service) newCapture(ctx context.Context, ns, id, logID string, stdout, stderr *string, terminal bool) (_ *capture, retErr error) {
	c := &capture{ns: ns, id: id, dir: filepath.Join(s.cfg.SpoolDir, ".fifo", spool.EscapeName(ns), spool.EscapeName(id)),
		measured: make(chan struct{}), flushed: make(chan struct{}), started: time.Now()}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			c.abort()
		}
	}()
	var err error
	if c.consumers, err = openConsumers(ctx, id, ns, *stdout, *stderr, terminal); err != nil {
		return nil, err
	}
	c.entry, err = spool.Open(s.cfg.SpoolDir, spool.Meta{Namespace: ns, ID: logID, ContainerID: id, Node: s.node, Started: c.started},
		spool.WithMaxBytes(int64(s.cfg.MaxBytes)), spool.WithFsync(s.fsync))
	if errors.Is(err, spool.ErrLocked) {
		return nil, fmt.Errorf("log ID %q is in use by a running task (%s must be unique per running task): %w",
			logID, AnnotationTaskID, errdefs.ErrAlreadyExists)
	}
	if err != nil {
		return nil, err
	}
	streams := []struct {
		name   spool.Stream
		target *string
		dest   io.Writer
	}{{spool.Stdout, stdout, c.consumers.stdout}}
	// With a TTY the console carries both streams into stdout.
	if !terminal {
		streams = append(streams, struct {
			name   spool.Stream
			target *string
			dest   io.Writer
		}{spool.Stderr, stderr, c.consumers.stderr})
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
			fw = newForwarder(st.dest, consumerQueue)
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
	c.copied.Wait()
	for _, f := range c.fwd {
		f.stop()
	}
	if c.consumers != nil {
		c.consumers.close()
	}
	if c.entry != nil {
		_, _ = c.entry.Finish(spool.ExitInfo{Code: -1, Exited: time.Now()})
		c.entry.Release()
		_ = os.RemoveAll(c.entry.Dir())
	}
	_ = os.RemoveAll(c.dir)
}
