package shim

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/brisk-containers/brisk/internal/usage"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/shim/taskstats"
)

// fakeSteps records each step of a task's end as "name" when it starts and
// "name." when it returns. A step named in held waits, once entered, until
// the test releases it.
type fakeSteps struct {
	waitErr   error
	finishErr error
	handErr   error // brisk-logd's answer to the hand-off

	mu        sync.Mutex
	events    []string
	reached   map[string]chan struct{} // closed when the event is recorded
	held      map[string]chan struct{}
	drainedIn time.Duration
	finished  spool.ExitInfo
	handOvers int
}

func newFakeSteps(held ...string) *fakeSteps {
	f := &fakeSteps{reached: map[string]chan struct{}{}, held: map[string]chan struct{}{}}
	for _, h := range held {
		f.held[h] = make(chan struct{})
	}
	return f
}

func (f *fakeSteps) reach(ev string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch, ok := f.reached[ev]
	if !ok {
		ch = make(chan struct{})
		f.reached[ev] = ch
	}
	return ch
}

func (f *fakeSteps) record(ev string) {
	ch := f.reach(ev)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// step records name, waits while it is held, and records its return.
func (f *fakeSteps) step(name string) func() {
	f.record(name)
	if ch, ok := f.held[name]; ok {
		<-ch
	}
	return func() { f.record(name + ".") }
}

func (f *fakeSteps) release(name string) { close(f.held[name]) }

func (f *fakeSteps) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

func (f *fakeSteps) waitExit(context.Context) (*taskAPI.WaitResponse, error) {
	defer f.step("waitExit")()
	if f.waitErr != nil {
		return nil, f.waitErr
	}
	return &taskAPI.WaitResponse{ExitStatus: 7, ExitedAt: timestamppb.New(time.Unix(1700000000, 0))}, nil
}

func (f *fakeSteps) releaseOutput() { defer f.step("releaseOutput")() }

func (f *fakeSteps) readStats(context.Context) *taskstats.Summary {
	defer f.step("readStats")()
	return &taskstats.Summary{Cgroup: taskstats.CgroupV2, CPUNanos: 99}
}

func (f *fakeSteps) drain(timeout time.Duration) {
	defer f.step("drain")()
	f.mu.Lock()
	f.drainedIn = timeout
	f.mu.Unlock()
}

func (f *fakeSteps) flushConsumers(context.Context, time.Duration) { defer f.step("flush")() }

func (f *fakeSteps) measure(context.Context) *usage.Layer {
	defer f.step("measure")()
	return &usage.Layer{Upperdir: "/upper"}
}

func (f *fakeSteps) publishUsage(context.Context, *usage.Layer, *taskstats.Summary) {
	defer f.step("publishUsage")()
}

func (f *fakeSteps) finish(_ context.Context, x spool.ExitInfo) error {
	defer f.step("finish")()
	f.mu.Lock()
	f.finished = x
	f.mu.Unlock()
	return f.finishErr
}

func (f *fakeSteps) handOver(ctx context.Context) error {
	defer f.step("handOver")()
	f.mu.Lock()
	f.handOvers++
	f.mu.Unlock()
	return f.handErr
}

func (f *fakeSteps) releaseEntry() { defer f.step("releaseEntry")() }

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// before checks that a was recorded, and before b if b was.
func before(t *testing.T, events []string, a, b string) {
	t.Helper()
	i, j := slices.Index(events, a), slices.Index(events, b)
	if i < 0 || (j >= 0 && j < i) {
		t.Errorf("%q must come before %q: %v", a, b, events)
	}
}

// TestTaskExitOrder runs a task's end with fake steps, holding one step at a
// time, and checks what may and may not have happened meanwhile, then the
// order of the whole run.
func TestTaskExitOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		held string // the step held while whileHeld runs
		// whileHeld checks the lifecycle while the step is held.
		whileHeld func(t *testing.T, te *taskExit, f *fakeSteps)
		setup     func(te *taskExit, f *fakeSteps)
		check     func(t *testing.T, te *taskExit, f *fakeSteps, events []string)
	}{{
		name: "a hand-off that hangs neither delays the exit status nor lets the shim leave",
		held: "handOver",
		whileHeld: func(t *testing.T, te *taskExit, f *fakeSteps) {
			within(t, te.shown, "the exit is shown while the hand-off hangs")
			if !te.waitShown(context.Background()) {
				t.Error("the exit gate gave up while only the hand-off was pending")
			}
			if closed(te.over) {
				t.Error("the shim may leave while the hand-off runs")
			}
			if !slices.Contains(f.recorded(), "releaseEntry.") {
				t.Error("brisk-logd was told before the entry was let go of: it could not take it")
			}
		},
	}, {
		name: "a statistics read that hangs does not delay the exit status; the entry waits for it",
		held: "readStats",
		whileHeld: func(t *testing.T, te *taskExit, f *fakeSteps) {
			within(t, te.shown, "the exit is shown while the statistics are read")
			if closed(te.measured) {
				t.Error("Delete may remove the cgroup before its statistics were read")
			}
			if slices.Contains(f.recorded(), "finish") {
				t.Error("the entry was finished before the statistics were in")
			}
		},
		check: func(t *testing.T, te *taskExit, f *fakeSteps, events []string) {
			if f.finished.Stats["cpu-ns"] != "99" || f.finished.Usage == nil {
				t.Errorf("entry finished with stats %v, usage %v: want the statistics and the layer", f.finished.Stats, f.finished.Usage)
			}
		},
	}, {
		name: "while the output drains, nothing is shown or finished, and the drain is bounded by drainTimeout",
		held: "drain",
		whileHeld: func(t *testing.T, te *taskExit, f *fakeSteps) {
			if closed(te.shown) || slices.Contains(f.recorded(), "finish") || slices.Contains(f.recorded(), "flush") {
				t.Errorf("with the output still draining: shown %v, events %v", closed(te.shown), f.recorded())
			}
		},
		check: func(t *testing.T, te *taskExit, f *fakeSteps, events []string) {
			if f.drainedIn != drainTimeout {
				t.Errorf("drain bounded by %v, want drainTimeout (%v)", f.drainedIn, drainTimeout)
			}
		},
	}, {
		name:  "a consumer that does not read: the exit shows after exitViewWait, the hand-off goes on, the shim stays",
		held:  "flush",
		setup: func(te *taskExit, f *fakeSteps) { te.viewWait = time.Millisecond },
		whileHeld: func(t *testing.T, te *taskExit, f *fakeSteps) {
			if te.waitShown(context.Background()) {
				t.Error("the exit gate reports the consumer flushed while it is not")
			}
			within(t, f.reach("handOver."), "the hand-off ends while the consumer does not read")
			if closed(te.over) {
				t.Error("the shim may leave while output is still owed to the consumer")
			}
		},
	}, {
		name: "no brisk-logd answers: the entry is let go of once, and left in the spool",
		setup: func(te *taskExit, f *fakeSteps) {
			f.handErr = errors.New("dial unix /run/brisk/logd.sock: connection refused")
		},
		check: func(t *testing.T, te *taskExit, f *fakeSteps, events []string) {
			if f.handOvers != 1 {
				t.Errorf("%d hand-offs; want 1: the entry is safe in the spool, brisk-logd finds it", f.handOvers)
			}
		},
	}, {
		name:  "an entry that cannot be finished is not handed over, and released",
		setup: func(te *taskExit, f *fakeSteps) { f.finishErr = errors.New("disk full") },
		check: func(t *testing.T, te *taskExit, f *fakeSteps, events []string) {
			if slices.Contains(events, "handOver") {
				t.Errorf("handed over an entry that was not finished: %v", events)
			}
		},
	}, {
		name:  "an exit that cannot be known is recorded as code -1",
		setup: func(te *taskExit, f *fakeSteps) { f.waitErr = context.Canceled },
		check: func(t *testing.T, te *taskExit, f *fakeSteps, events []string) {
			if f.finished.Code != -1 || f.finished.Exited.IsZero() {
				t.Errorf("finished with code %d at %v, want -1 and a time", f.finished.Code, f.finished.Exited)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var held []string
			if tc.held != "" {
				held = append(held, tc.held)
			}
			f := newFakeSteps(held...)
			te := newTaskExit("t", f)
			if tc.setup != nil {
				tc.setup(te, f)
			}
			go te.run(context.Background())
			if tc.held != "" {
				within(t, f.reach(tc.held), "the held step is reached")
				tc.whileHeld(t, te, f)
				f.release(tc.held)
			}
			within(t, te.over, "the task's end is over")
			events := f.recorded()

			// The order every run keeps, whatever failed.
			before(t, events, "waitExit.", "releaseOutput")
			before(t, events, "releaseOutput.", "drain")
			before(t, events, "drain.", "flush")
			before(t, events, "readStats.", "measure")
			before(t, events, "measure.", "publishUsage")
			for _, step := range []string{"drain.", "readStats.", "measure.", "publishUsage."} {
				before(t, events, step, "finish")
			}
			before(t, events, "finish.", "releaseEntry")
			before(t, events, "releaseEntry.", "handOver")
			// Over waits for the consumers' flush and the hand-off.
			before(t, events, "flush.", "")
			before(t, events, "releaseEntry.", "")
			if last := events[len(events)-1]; last != "releaseEntry." && last != "flush." && last != "handOver." {
				t.Errorf("last step %q: the hand-off and the consumers' flush end a task's life: %v", last, events)
			}
			if n := slices.Index(events, "releaseEntry"); n < 0 || slices.Index(events[n+1:], "releaseEntry") >= 0 {
				t.Errorf("the entry is released %d times, want once: %v", countOf(events, "releaseEntry"), events)
			}
			if !closed(te.shown) || !closed(te.measured) {
				t.Errorf("over, yet shown %v, measured %v", closed(te.shown), closed(te.measured))
			}
			if tc.check != nil {
				tc.check(t, te, f, events)
			}
		})
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, e := range s {
		if e == v {
			n++
		}
	}
	return n
}
