package shim

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/fifo"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// BenchmarkCapturePath is the shim's own cost per byte of output, in
// process: runc's copy writing 32 KiB chunks of log lines into the capture
// FIFO, the capture putting them into the spool (past max_bytes, as a busy
// task's output mostly is) and forwarding them to a client FIFO that a
// reader drains. Profile it with -cpuprofile.
func BenchmarkCapturePath(b *testing.B) {
	dir := b.TempDir()
	cfg := config.DefaultLogs()
	cfg.SpoolDir = filepath.Join(dir, "spool")
	s := &Service{cfg: cfg}
	ctx := namespaces.WithNamespace(context.Background(), "ns")
	client := filepath.Join(dir, "client-stdout")
	if err := syscall.Mkfifo(client, 0o600); err != nil {
		b.Fatal(err)
	}
	r, err := fifo.OpenFifo(ctx, client, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, r); close(drained) }()
	stdout, stderr := client, ""
	c, err := s.newCapture(ctx, "ns", "bench", spool.Meta{ID: "bench"}, &stdout, &stderr, false)
	if err != nil {
		b.Fatal(err)
	}
	w, err := os.OpenFile(stdout, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	// The task's stderr, which says nothing: its copier ends at EOF.
	if werr, err := os.OpenFile(stderr, os.O_WRONLY, 0); err != nil {
		b.Fatal(err)
	} else {
		werr.Close()
	}
	chunk := bytes.Repeat([]byte("throughput test line throughput test line throughput test line throughput test line\n"), 32<<10/85)
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	c.drain(time.Minute)
	c.closeConsumers(ctx, time.Minute)
	b.StopTimer()
	<-drained
	r.Close()
	c.entry.Release()
}
