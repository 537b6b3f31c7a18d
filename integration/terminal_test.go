package integration

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// runWithClient runs args in a new task of runtime through containerd's Go
// client, with the I/O the client sets up itself (cio's FIFOs, byte
// buffers), and returns what the client received.
func runWithClient(ctx context.Context, client *containerd.Client, image containerd.Image, fifoDir, runtime, id string, terminal bool, args ...string) (stdout, stderr []byte, err error) {
	specOpts := []oci.SpecOpts{oci.WithImageConfig(image), oci.WithProcessArgs(args...)}
	var out, errb bytes.Buffer
	ioOpts := []cio.Opt{cio.WithStreams(nil, &out, &errb), cio.WithFIFODir(fifoDir)}
	if terminal {
		specOpts = append(specOpts, oci.WithTTY)
		ioOpts = append(ioOpts, cio.WithTerminal)
	}
	ctr, err := client.NewContainer(ctx, id, containerd.WithImage(image), containerd.WithNewSnapshot(id, image),
		containerd.WithRuntime(runtime, nil), containerd.WithNewSpec(specOpts...))
	if err != nil {
		return nil, nil, fmt.Errorf("container %s: %w", id, err)
	}
	defer ctr.Delete(context.WithoutCancel(ctx), containerd.WithSnapshotCleanup)
	task, err := ctr.NewTask(ctx, cio.NewCreator(ioOpts...))
	if err != nil {
		return nil, nil, fmt.Errorf("create task %s: %w", id, err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	exitC, err := task.Wait(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := task.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", id, err)
	}
	st := <-exitC
	task.IO().Wait()
	if code, _, err := st.Result(); err != nil || code != 0 {
		return nil, nil, fmt.Errorf("task %s: exit %d, %v", id, code, err)
	}
	return out.Bytes(), errb.Bytes(), nil
}

// TestTerminalLikeRunc: a task with a TTY, created through containerd's Go
// client as a program would (cio names a stderr FIFO it never creates, since
// a console has one stream), runs under brisk as under runc: same output to
// the client, and brisk's object holds it.
func TestTerminalLikeRunc(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client, err := containerd.New(s.ctd.Address, containerd.WithDefaultNamespace(s.ctd.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	image, err := client.GetImage(ctx, s.image)
	if err != nil {
		t.Fatal(err)
	}
	script := []string{"sh", "-c", "echo to-stdout; echo to-stderr >&2; tty"}
	got := map[string][]byte{}
	for _, rt := range []string{"io.containerd.runc.v2", runtimeBrisk} {
		id := "tty-" + map[string]string{runtimeBrisk: "brisk", "io.containerd.runc.v2": "runc"}[rt]
		out, errOut, err := runWithClient(ctx, client, image, s.env.Path("fifo"), rt, id, true, script...)
		if err != nil {
			t.Fatalf("%s: %v", rt, err)
		}
		if len(errOut) != 0 {
			t.Errorf("%s: the client got %q on stderr; a terminal has one stream", rt, errOut)
		}
		got[rt] = out
	}
	want := got["io.containerd.runc.v2"]
	for _, line := range []string{"to-stdout\r\n", "to-stderr\r\n", "/dev/pts/"} {
		if !bytes.Contains(want, []byte(line)) {
			t.Fatalf("runc's output %q lacks %q", want, line)
		}
	}
	if !bytes.Equal(got[runtimeBrisk], want) {
		t.Errorf("the client got %q under brisk, %q under runc", got[runtimeBrisk], want)
	}
	streams, meta := s.waitObject(t, "tty-brisk", 30*time.Second)
	if !bytes.Equal(streams[spool.Stdout], want) || len(streams[spool.Stderr]) != 0 {
		t.Errorf("object: stdout %q, stderr %q; want stdout %q", streams[spool.Stdout], streams[spool.Stderr], want)
	}
	if meta["brisk-complete"] != "true" {
		t.Errorf("object metadata %v", meta)
	}
}
