package shim

import (
	"context"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/shim/taskstats"
)

// The end of a task's life, in this order (taskExit.run):
//
//  1. exited: runc's task service reaped the init process; its exit code
//     and time are known.
//  2. released: the copiers stop waiting for a slow consumer
//     (logs.slow_consumer = "wait"), so the rest of the output reaches the
//     spool now. The cgroup statistics are read beside steps 3 and 4: runc's
//     cgroup lives until Delete, which waits for step 5, so the exit status
//     need not wait for the read.
//  3. drained: the copiers reached the end of the FIFOs; the spool holds
//     every byte the task wrote (at most drainTimeout).
//  4. shown: the consumers are handed the rest in the background. Once they
//     have it, or exitViewWait passed, the exit is shown: Wait answers and
//     TaskExit is published. Nothing below holds the exit status.
//  5. measured: the statistics are in and the writable layer is measured;
//     Delete may now remove the cgroup and unmount the rootfs.
//  6. the usage event is published.
//  7. finished: the spool entry is done: meta.json says "done" with the exit
//     code, the statistics and the usage. This comes after 3, so that a
//     reader who sees "done" finds every record in the log.
//  8. handed over: the entry's lock is released and brisk-logd, the node's
//     log daemon, is told on its unix socket; it ships the entry with its
//     metadata. A brisk-logd that does not answer leaves the entry waiting
//     in the spool, safe, for its next look (or briskctl flush). The shim
//     never uploads: it links no S3 client, opens no connection to S3 and
//     signs nothing, which a burst of a hundred shims would do a hundred
//     times. The entry's lock is released on every way out.
//  9. over: the consumers' flush (4) and the hand-off (8) ended; the shim
//     may leave (Service.waitExits).

// The shim's waits, each bounded so that nothing a task or its client does
// keeps the shim, or the client, waiting for ever.
const (
	// loggerReadyTimeout bounds how long a binary:// logger may take to
	// say it is ready, as in runc's shim (same value).
	loggerReadyTimeout = 10 * time.Second
	// loggerExitWait bounds how long a binary:// logger may take to exit
	// once its pipes are closed, before it is killed: it must not keep the
	// shim.
	loggerExitWait = 10 * time.Second
	// drainTimeout bounds the wait for the output to reach the spool after
	// the exit: a daemonised child that inherited stdout can hold the FIFO
	// open for ever. The FIFOs are then closed; the log is what was read.
	drainTimeout = 10 * time.Second
	// exitViewWait bounds how long the exit is held back from the client
	// while its consumer takes the last of the output. containerd's client
	// drops what it had not read when it deletes the task, so the exit
	// waits for it, but a consumer that does not read must not hide it.
	exitViewWait = 5 * time.Second
	// consumerFlushTimeout bounds how long output is still offered to a
	// slow consumer after the exit. It runs beside the hand-off and keeps
	// only the shim, not the exit status (see exitViewWait).
	consumerFlushTimeout = 60 * time.Second
	// measureBeforeDelete bounds how long Delete waits for the statistics
	// and the measure of the writable layer (runc's Delete removes the
	// cgroup and unmounts the rootfs): a measure that hangs must not block
	// the client's Delete.
	measureBeforeDelete = 5 * time.Second
)

// exitSteps are what a task's end does, one call per step; taskExit decides
// their order and their waits. captureSteps does them for a real task.
type exitSteps interface {
	waitExit(ctx context.Context) (*taskAPI.WaitResponse, error)
	releaseOutput()
	readStats(ctx context.Context) *taskstats.Summary
	drain(timeout time.Duration)
	flushConsumers(ctx context.Context, timeout time.Duration)
	measure(ctx context.Context) *usage.Layer
	publishUsage(ctx context.Context, layer *usage.Layer, stats *taskstats.Summary)
	finish(ctx context.Context, x spool.ExitInfo) error
	handOver(ctx context.Context) error
	releaseEntry()
}

// taskExit owns one task's end: it runs the steps in the order written
// above, and the exit gate and Delete wait on it.
type taskExit struct {
	id    string
	steps exitSteps

	// The waits: the constants above. Tests shorten them.
	drainTimeout, flushTimeout, viewWait, deleteWait time.Duration

	shown    chan struct{} // closed: the exit may be shown to the client
	measured chan struct{} // closed: Delete may remove the cgroup and rootfs
	over     chan struct{} // closed: nothing of this task keeps the shim
}

func newTaskExit(id string, steps exitSteps) *taskExit {
	return &taskExit{
		id:           id,
		steps:        steps,
		drainTimeout: drainTimeout,
		flushTimeout: consumerFlushTimeout,
		viewWait:     exitViewWait,
		deleteWait:   measureBeforeDelete,
		shown:        make(chan struct{}),
		measured:     make(chan struct{}),
		over:         make(chan struct{}),
	}
}

// run takes the task from its exit to the hand-off of its log, once.
func (t *taskExit) run(ctx context.Context) {
	defer close(t.over)
	x := t.exited(ctx)
	t.steps.releaseOutput()
	statsRead := t.readStats(ctx)
	t.steps.drain(t.drainTimeout)
	t.show(ctx)
	defer func() { <-t.shown }() // the consumers' flush keeps the shim too
	stats, layer := t.measure(ctx, statsRead)
	t.steps.publishUsage(ctx, layer, stats)
	x.Usage, x.Stats = layer, stats.Metadata()
	if !t.finish(ctx, x) {
		return
	}
	t.handOver(ctx)
}

// exited waits for the init process's exit; an exit that cannot be known
// (the shim is shutting down) is recorded as code -1, now.
func (t *taskExit) exited(ctx context.Context) spool.ExitInfo {
	resp, err := t.steps.waitExit(ctx)
	x := spool.ExitInfo{Code: -1, Exited: time.Now()}
	if err == nil {
		x.Code = int(resp.ExitStatus)
		if resp.ExitedAt != nil {
			x.Exited = resp.ExitedAt.AsTime()
		}
	}
	return x
}

// readStats reads the cgroup statistics beside the drain and the flush;
// the channel gives the summary (nil: not read) once it is in.
func (t *taskExit) readStats(ctx context.Context) <-chan *taskstats.Summary {
	ch := make(chan *taskstats.Summary, 1)
	go func() { ch <- t.steps.readStats(ctx) }()
	return ch
}

// show hands the consumers the rest in the background and then lets the
// exit be shown (step 4).
func (t *taskExit) show(ctx context.Context) {
	go func() {
		defer close(t.shown)
		t.steps.flushConsumers(ctx, t.flushTimeout)
	}()
}

// measure waits for the statistics and measures the writable layer; then
// Delete may go on (step 5).
func (t *taskExit) measure(ctx context.Context, statsRead <-chan *taskstats.Summary) (*taskstats.Summary, *usage.Layer) {
	defer close(t.measured)
	stats := <-statsRead
	return stats, t.steps.measure(ctx)
}

// finish marks the spool entry done (step 7). An entry that cannot be
// finished is released unshipped: it stays in the spool for the retrier.
func (t *taskExit) finish(ctx context.Context, x spool.ExitInfo) bool {
	if err := t.steps.finish(ctx, x); err != nil {
		log.G(ctx).WithError(err).WithField("id", t.id).Error("finalise spool entry; it stays for the retrier")
		t.steps.releaseEntry()
		return false
	}
	return true
}

// handOver lets go of the finished entry and tells brisk-logd, which
// ships it (step 8).
func (t *taskExit) handOver(ctx context.Context) {
	t.steps.releaseEntry()
	if err := t.steps.handOver(ctx); err != nil {
		log.G(ctx).WithError(err).WithField("id", t.id).Warn("brisk-logd did not take the log: it waits in the spool for brisk-logd (or briskctl flush)")
	}
}

// waitShown holds the exit back from the client until step 4, at most
// viewWait; false when it gave up waiting.
func (t *taskExit) waitShown(ctx context.Context) bool {
	start := time.Now()
	select {
	case <-t.shown:
		return true
	case <-time.After(t.viewWait):
		log.G(ctx).WithFields(log.Fields{"id": t.id, "waited": time.Since(start)}).Warn("consumer still taking output; showing the exit anyway")
		return false
	}
}

// waitMeasured holds Delete until step 5, at most deleteWait.
func (t *taskExit) waitMeasured() {
	select {
	case <-t.measured:
	case <-time.After(t.deleteWait):
	}
}
