package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/logs/spool"
)

// namespace is the tasks' containerd namespace.
const namespace = "batchbench"

// buildLog is a task's output: a build log of about size bytes, the same
// compiler lines as the short task of the shim bench's bursts, varied by
// seed (worker, timings, files) so that no two logs are the same and it
// compresses as a real build log does (about 0.16×), not as repeated or
// random bytes would. Its first line names the task. Lines bound for
// stderr (a warning every 50) are returned apart.
func buildLog(id string, seed uint64, size int) (stdout, stderr []byte) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out, errs bytes.Buffer
	out.Grow(size + 128)
	fmt.Fprintf(&out, "task %s: build started\n", id)
	for i := 0; out.Len()+errs.Len() < size; i++ {
		pkg, file := r.IntN(13), r.IntN(4000)
		fmt.Fprintf(&out, "%05d [worker-%d] cc -O2 -Wall -c src/pkg%d/file%d.c -o build/pkg%d/file%d.o (%d ms)\n",
			i, r.IntN(8), pkg, file, pkg, file, r.IntN(1000))
		if i%50 == 0 {
			fmt.Fprintf(&errs, "%05d warning: unused variable tmp%d in src/pkg%d/file%d.c\n", i, r.IntN(100), pkg, file)
		}
	}
	return out.Bytes(), errs.Bytes()
}

// task is one finished spool entry the bench wrote.
type task struct {
	id     string
	run    string
	node   int
	exited time.Time // when Finish was called: the task's exit
	lines  int       // lines of output, stdout and stderr
	first  string    // its first line
}

// errHandoff: the task was written, and its hand-off failed (the daemon
// did not answer in time): its entry waits for the daemon's look over the
// spool, as a shim's does.
var errHandoff = errors.New("hand-off failed")

// writeTask writes one task's log into spool with logs/spool, as a shim
// does (Open, Write in pipe-sized chunks, Finish, Release), and hands it
// over to the node's brisk-logd when handoff is set.
func writeTask(ctx context.Context, n *node, id string, seed uint64, size int, handoff bool) (task, error) {
	stdout, stderr := buildLog(id, seed, size)
	e, err := spool.Open(n.spool, spool.Meta{Namespace: namespace, ID: id, ContainerID: id, Node: n.name})
	if err != nil {
		return task{}, err
	}
	const chunk = 64 << 10 // a pipe's buffer
	for p := stdout; len(p) > 0; {
		end := min(chunk, len(p))
		if i := bytes.LastIndexByte(p[:end], '\n'); i >= 0 && end < len(p) {
			end = i + 1
		}
		if err := e.Write(spool.Stdout, p[:end]); err != nil {
			e.Release()
			return task{}, err
		}
		p = p[end:]
	}
	if err := e.Write(spool.Stderr, stderr); err != nil {
		e.Release()
		return task{}, err
	}
	exited := time.Now()
	m, err := e.Finish(spool.ExitInfo{Code: 0, Exited: exited})
	e.Release()
	if err != nil {
		return task{}, err
	}
	first, _, _ := bytes.Cut(stdout, []byte("\n"))
	t := task{id: id, run: m.Run, exited: exited, lines: bytes.Count(stdout, []byte("\n")) + bytes.Count(stderr, []byte("\n")), first: string(first)}
	if handoff {
		// The task has ended: its hand-off completes even as the load
		// stops, as a shim's would.
		if err := n.handoff.Notify(context.WithoutCancel(ctx), e.Dir()); err != nil {
			return t, fmt.Errorf("%w: %w", errHandoff, err)
		}
	}
	return t, nil
}

// load is the tasks the bench feeds the nodes: each node its share of the
// rate, at evenly spaced times from a random phase, as a schedule (a task
// late because the machine was busy is written at once, and the lag
// recorded), not a ticker that would drop what it could not keep up with.
type load struct {
	nodes   []*node
	perNode float64 // tasks/s
	size    int
	handoff bool
	tag     string // in every ID: the mode and run

	mu       sync.Mutex
	finished []task
	errors   int // tasks not written
	lastErr  error
	handoffs int // hand-offs failed
	lastHand error
	maxLag   time.Duration
	onFinish func(task, int) // called with each finished task and its index
}

// run writes tasks until ctx ends.
func (l *load) run(ctx context.Context) {
	var wg sync.WaitGroup
	period := time.Duration(float64(time.Second) / l.perNode)
	start := time.Now()
	for i, n := range l.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			next := start.Add(time.Duration(rand.Int64N(int64(period))))
			for seq := 0; ; seq++ {
				if d := time.Until(next); d > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(d):
					}
				} else if ctx.Err() != nil {
					return
				}
				lag := time.Since(next)
				id := l.tag + "-" + n.name + "-" + strconv.Itoa(seq)
				t, err := writeTask(ctx, n, id, uint64(i)<<32|uint64(seq), l.size, l.handoff)
				t.node = i
				l.mu.Lock()
				if lag > l.maxLag {
					l.maxLag = lag
				}
				switch {
				case errors.Is(err, errHandoff):
					l.handoffs++
					l.lastHand = err
				case err != nil:
					l.errors++
					l.lastErr = err
				}
				if !t.exited.IsZero() {
					l.finished = append(l.finished, t)
					if l.onFinish != nil {
						l.onFinish(t, len(l.finished)-1)
					}
				}
				l.mu.Unlock()
				next = next.Add(period)
			}
		}()
	}
	wg.Wait()
}

// count is how many tasks finished so far.
func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.finished)
}

// tasks is every finished task.
func (l *load) tasks() []task {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]task(nil), l.finished...)
}
