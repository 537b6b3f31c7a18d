package integration

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/batch"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// Issue 14, batch mode, end to end: real containerd, the brisk shim,
// brisk-logd with logs.upload = "batch", MinIO, and briskctl reading each
// log back by its task ID alone.

// batchNS is the containerd namespace the harness runs tasks in.
const batchNS = "brisk-test"

// batchNode is one node of a batch-mode cluster on this machine: a
// containerd of its own whose shims write to a spool of their own and hand
// finished logs to the node's brisk-logd, which batches them into the
// cluster's bucket under the node's name.
type batchNode struct {
	name     string
	env      *harness.Env
	ctd      *harness.Containerd
	logd     *harness.Logd
	spoolDir string
	image    string
	proxy    *harness.HoldingProxy // nil unless its brisk-logd reaches MinIO through one
}

// batchNodeSpec describes a node: its name, its [logs.batch] lines, the
// test hooks in its brisk-logd's environment (BRISK_TEST_*), and whether it
// reaches MinIO through a HoldingProxy.
type batchNodeSpec struct {
	name  string
	batch string
	hooks []string
	proxy bool
}

// batchCluster is MinIO and the nodes sharing its bucket.
type batchCluster struct {
	env     *harness.Env // the first node's, which runs MinIO
	minio   *harness.MinIO
	store   *store.S3
	readCfg string // briskctl's: the bucket, upload = "batch", an empty spool, no server
	nodes   []*batchNode
}

// newBatchCluster starts MinIO and one node per spec, in order (the first
// node's brisk-logd is the first compactor candidate, and takes the
// lease), each with the busybox image and files.
func newBatchCluster(t *testing.T, files []harness.ImageFile, specs ...batchNodeSpec) *batchCluster {
	c := &batchCluster{}
	for i, spec := range specs {
		env := harness.New(t)
		if i == 0 {
			env.Require(filepath.Join(env.BriskBin, "containerd-shim-brisk-v2"))
			env.Require(filepath.Join(env.BriskBin, "brisk-logd"))
			c.env = env
			c.minio = env.StartMinIO()
			for _, kv := range c.minio.Env() {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			s3cfg := config.DefaultLogs().S3
			s3cfg.Bucket, s3cfg.Endpoint, s3cfg.PathStyle, s3cfg.Region = bucket, c.minio.Endpoint, true, c.minio.Region
			var err error
			if c.store, err = store.ConnectS3(context.Background(), s3cfg); err != nil {
				t.Fatal(err)
			}
			if _, err := c.store.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
				t.Fatal(err)
			}
			// The reader is no node: it finds logs by ID in the bucket
			// alone, with no spool to look in and no node to ask.
			c.readCfg = env.Path("briskctl-reader.toml")
			reader := fmt.Sprintf("[logs]\nspool_dir = %q\nupload = \"batch\"\n[logs.s3]\nbucket = %q\nendpoint = %q\npath_style = true\nregion = %q\n",
				env.Path("reader-spool"), bucket, c.minio.Endpoint, c.minio.Region)
			if err := os.WriteFile(c.readCfg, []byte(reader), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		n := &batchNode{name: spec.name, env: env, spoolDir: env.Path("spool")}
		endpoint := c.minio.Endpoint
		if spec.proxy {
			n.proxy = env.StartHoldingProxy(c.minio.Endpoint)
			endpoint = n.proxy.URL
		}
		logsTOML := fmt.Sprintf(`[logs]
spool_dir = %q
upload_timeout = "3s"
upload = "batch"
[logs.batch]
%s
[logs.s3]
bucket = %q
endpoint = %q
path_style = true
region = %q
[logs.api]
socket = %q
`, n.spoolDir, spec.batch, bucket, endpoint, c.minio.Region, env.Path("logd.sock"))
		cfgPath := env.Path("brisk-shim.toml")
		if err := os.WriteFile(cfgPath, []byte(logsTOML), 0o644); err != nil {
			t.Fatal(err)
		}
		n.logd = env.StartLogdEnv(spec.name, logsTOML, nil, spec.hooks)
		n.ctd = env.StartContainerd(harness.WithEnv(append(c.minio.Env(), config.EnvPath+"="+cfgPath)...))
		n.image = n.ctd.ImportImage([]string{"overlayfs"}, files...)
		c.nodes = append(c.nodes, n)
	}
	return c
}

// briskctl runs briskctl with the reader's config.
func (c *batchCluster) briskctl(args ...string) (string, string, error) {
	return c.env.Run(append([]string{filepath.Join(c.env.BriskBin, "briskctl"), "--config", c.readCfg}, args...)...)
}

// batchTask is one task and what it prints.
type batchTask struct {
	node           *batchNode
	id             string
	script         string
	stdout, stderr string
}

// echoTask prints its ID on both streams and lines numbers on stdout.
func echoTask(n *batchNode, id string, lines int) batchTask {
	var out strings.Builder
	fmt.Fprintf(&out, "out %s\n", id)
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&out, "%d\n", i)
	}
	return batchTask{node: n, id: id, script: fmt.Sprintf("echo 'out %s'; seq 1 %d; echo 'err %s' >&2", id, lines, id),
		stdout: out.String(), stderr: "err " + id + "\n"}
}

// run runs the task to its end with ctr run --rm.
func (bt batchTask) run() error {
	out, _, err := bt.node.ctd.Ctr("run", "--rm", "--runtime", runtimeBrisk, bt.node.image, bt.id, "sh", "-c", bt.script)
	if err != nil {
		return fmt.Errorf("%s on %s: %w", bt.id, bt.node.name, err)
	}
	if out != bt.stdout {
		return fmt.Errorf("%s on %s: ctr printed %d bytes, want %d", bt.id, bt.node.name, len(out), len(bt.stdout))
	}
	return nil
}

// runTasks runs tasks, parallel at a time, counting those done in done
// (may be nil).
func runTasks(tasks []batchTask, parallel int, done *atomic.Int32) []error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	slots := make(chan struct{}, parallel)
	for _, bt := range tasks {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			if err := bt.run(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			if done != nil {
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return errs
}

func mustRun(t *testing.T, tasks []batchTask, parallel int) {
	t.Helper()
	for _, err := range runTasks(tasks, parallel, nil) {
		t.Error(err)
	}
}

// readBack reads each task's log with briskctl logs ID, from the bucket
// alone, and checks it byte for byte against what the task printed. A log
// not found yet (its batch not stored, or not indexed) is asked for again
// until timeout; a log found with other bytes fails at once.
func (c *batchCluster) readBack(t *testing.T, tasks []batchTask, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	pending := tasks
	lastErr := map[string]string{}
	rounds := 0
	for len(pending) > 0 {
		rounds++
		var mu sync.Mutex
		var again []batchTask
		var wg sync.WaitGroup
		slots := make(chan struct{}, 4)
		for _, bt := range pending {
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer func() { <-slots; wg.Done() }()
				out, stderr, err := c.briskctl("logs", "-n", batchNS, bt.id)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					lastErr[bt.id] = err.Error()
					again = append(again, bt)
				case out != bt.stdout || stderr != bt.stderr:
					t.Errorf("briskctl logs %s: stdout %d bytes (want %d, equal %v), stderr %q (want %q)",
						bt.id, len(out), len(bt.stdout), out == bt.stdout, abbrev(stderr), bt.stderr)
				}
			}()
		}
		wg.Wait()
		pending = again
		if len(pending) > 0 && time.Since(start) > timeout {
			for i, bt := range pending {
				if i == 10 {
					break
				}
				t.Errorf("%s (%s) not found by ID after %v: %s", bt.id, bt.node.name, timeout, lastErr[bt.id])
			}
			t.Fatalf("%d of %d logs not found by ID alone after %v", len(pending), len(tasks), timeout)
		}
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	t.Logf("%d logs read back by ID alone with briskctl, byte-exact, in %v (%d rounds: a log not found yet is asked for again)",
		len(tasks), time.Since(start).Round(100*time.Millisecond), rounds)
}

// batches reads the trailer of every batch in the bucket.
func (c *batchCluster) batches(t *testing.T) map[string]*batch.Trailer {
	t.Helper()
	ctx := context.Background()
	var keys []string
	if err := c.store.List(ctx, batch.Dir, "", func(page []string, _ bool) bool { keys = append(keys, page...); return true }); err != nil {
		t.Fatalf("list batches: %v", err)
	}
	out := map[string]*batch.Trailer{}
	for _, k := range keys {
		tr, err := batch.ReadTrailer(ctx, c.store, k)
		if err != nil {
			t.Fatalf("trailer of %s: %v", k, err)
		}
		out[k] = tr
	}
	return out
}

// runsOf lists, for each ID, its runs in the batches and the batches each
// is in.
func runsOf(trailers map[string]*batch.Trailer) map[string]map[string][]string {
	runs := map[string]map[string][]string{}
	for k, tr := range trailers {
		for _, e := range tr.Entries {
			if e.Meta.Namespace != batchNS {
				continue
			}
			if runs[e.Meta.ID] == nil {
				runs[e.Meta.ID] = map[string][]string{}
			}
			runs[e.Meta.ID][e.Meta.Run] = append(runs[e.Meta.ID][e.Meta.Run], k)
		}
	}
	return runs
}

// checkOnce checks that each ID of want has want[id] runs in the batches,
// each in exactly one batch.
func (c *batchCluster) checkOnce(t *testing.T, want map[string]int) {
	t.Helper()
	trailers := c.batches(t)
	runs := runsOf(trailers)
	bad := 0
	for id, n := range want {
		got := runs[id]
		if len(got) != n {
			bad++
			if bad <= 10 {
				t.Errorf("%s: %d runs in the batches, want %d: %v", id, len(got), n, got)
			}
			continue
		}
		for run, keys := range got {
			if len(keys) != 1 {
				bad++
				if bad <= 10 {
					t.Errorf("%s run %s is in %d batches: %v", id, run, len(keys), keys)
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d IDs not stored exactly once", bad, len(want))
	} else {
		t.Logf("%d IDs: each run in exactly one of the bucket's %d batches", len(want), len(trailers))
	}
}

func onceEach(tasks []batchTask) map[string]int {
	want := map[string]int{}
	for _, bt := range tasks {
		want[bt.id]++
	}
	return want
}

// pending is the entries waiting in n's spool.
func (n *batchNode) pending(t *testing.T) int {
	t.Helper()
	dirs, err := spool.Pending(n.spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	return len(dirs)
}

// waitDrained waits until each node's spool is empty: every log stored.
func waitDrained(t *testing.T, timeout time.Duration, nodes ...*batchNode) {
	t.Helper()
	for _, n := range nodes {
		if !harness.WaitFor(timeout, func() bool { return n.pending(t) == 0 }) {
			t.Fatalf("%d entries still in %s's spool after %v:\n%s", n.pending(t), n.name, timeout, n.logd.Proc.LogTail())
		}
	}
}

// restartLogd starts n's brisk-logd again (SIGKILLing it first if it
// runs), with its config edited by edit when not nil.
func (n *batchNode) restartLogd(t *testing.T, edit func(string) string) {
	t.Helper()
	n.logd.Proc.Kill()
	if edit != nil {
		data, err := os.ReadFile(n.logd.ConfigPath)
		if err != nil {
			t.Fatal(err)
		}
		changed := edit(string(data))
		if changed == string(data) {
			t.Fatalf("the edit changed nothing in %s", n.logd.ConfigPath)
		}
		if err := os.WriteFile(n.logd.ConfigPath, []byte(changed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n.env.Restart(n.logd.Proc)
	n.env.WaitLogd(n.logd)
}

// leaseState is the compactor's lease object, {prefix}index/lease.
type leaseState struct {
	Holder  string    `json:"holder"`
	Epoch   int64     `json:"epoch"`
	Expires time.Time `json:"expires"`
}

func (c *batchCluster) lease() (leaseState, error) {
	o, err := c.store.Read(context.Background(), "index/lease")
	if err != nil {
		return leaseState{}, err
	}
	var l leaseState
	if err := json.Unmarshal(o.Body, &l); err != nil {
		return leaseState{}, fmt.Errorf("lease %q: %w", o.Body, err)
	}
	return l, nil
}

// waitLeader waits until a node other than not (nil: any) holds the
// lease, and returns it.
func (c *batchCluster) waitLeader(t *testing.T, not *batchNode, timeout time.Duration) (*batchNode, leaseState) {
	t.Helper()
	var l leaseState
	var err error
	var leader *batchNode
	harness.WaitFor(timeout, func() bool {
		if l, err = c.lease(); err != nil {
			return false
		}
		for _, n := range c.nodes {
			if n.name == l.Holder && n != not && time.Now().Before(l.Expires) {
				leader = n
			}
		}
		return leader != nil
	})
	if leader == nil {
		t.Fatalf("no node but %v took the compactor lease within %v: %+v %v", not, timeout, l, err)
	}
	return leader, l
}

func (n *batchNode) String() string {
	if n == nil {
		return "none"
	}
	return n.name
}

// indexEpoch is the epoch an index object was written in: its first line,
// gunzipped, is "brisk-index 1 epoch=N".
func indexEpoch(body []byte) (int64, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(zr).ReadString('\n')
	if err != nil {
		return 0, err
	}
	var epoch int64
	if _, err := fmt.Sscanf(line, "brisk-index 1 epoch=%d\n", &epoch); err != nil {
		return 0, fmt.Errorf("first line %q: %w", line, err)
	}
	return epoch, nil
}

// epochWatch records, while it runs, every version of the lease and of
// each index object it sees.
type epochWatch struct {
	mu      sync.Mutex
	leases  []leaseState       // each version seen, in order
	index   map[string][]int64 // key -> the epoch of each version seen, in order
	etags   map[string]string
	reads   int
	stop    chan struct{}
	stopped chan struct{}
}

func (c *batchCluster) watchEpochs(every time.Duration) *epochWatch {
	w := &epochWatch{index: map[string][]int64{}, etags: map[string]string{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(w.stopped)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			w.poll(c)
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *epochWatch) poll(c *batchCluster) {
	ctx := context.Background()
	if l, err := c.lease(); err == nil {
		w.mu.Lock()
		if n := len(w.leases); n == 0 || w.leases[n-1] != l {
			w.leases = append(w.leases, l)
		}
		w.mu.Unlock()
	}
	out, err := c.store.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("index/")})
	if err != nil {
		return
	}
	for _, o := range out.Contents {
		key, etag := aws.ToString(o.Key), aws.ToString(o.ETag)
		if key == "index/lease" || strings.HasPrefix(key, "index/probe/") || w.etags[key] == etag {
			continue
		}
		obj, err := c.store.Read(ctx, key)
		if err != nil {
			continue
		}
		epoch, err := indexEpoch(obj.Body)
		w.mu.Lock()
		w.reads++
		if err != nil {
			epoch = -1 // unreadable: reported as a decrease
		}
		w.index[key] = append(w.index[key], epoch)
		w.etags[key] = obj.ETag
		w.mu.Unlock()
	}
}

func (w *epochWatch) Stop() {
	close(w.stop)
	<-w.stopped
}

// TestBatchModeTwoNodes: two nodes on this machine, each a containerd,
// brisk shims and a brisk-logd of its own (two spools, two node names),
// batch into one MinIO bucket; 500 tasks; the compactor's leader is
// SIGKILLed, and later another SIGSTOPped, while tasks run; then one ID
// run twice, a log over standalone_over, a corrupted trailer, and S3 down
// for a minute.
func TestBatchModeTwoNodes(t *testing.T) {
	// A batch every 2 s and a compactor cycle of 1 s instead of 10 s
	// each: a log is found by ID an interval plus a cycle after its task's
	// end, and the test reads 500 back. A lease of 6 s instead of 45 s: a
	// dead leader is taken over in seconds. Logs over 64 KiB compressed
	// are stored alone, so that a test log of 1 MB is one (the default is
	// 4 MiB).
	const batchTOML = "interval = \"2s\"\nstandalone_over = \"64Ki\""
	hooks := []string{"BRISK_TEST_LEASE_TTL=6s", "BRISK_TEST_COMPACT_CYCLE=1s"}
	raw := make([]byte, 768<<10)
	_, _ = rand.Read(raw)
	var big bytes.Buffer
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		big.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	big.WriteString(enc + "\n")
	c := newBatchCluster(t, []harness.ImageFile{{Path: "/payload/big.b64", Mode: 0o644, Data: big.Bytes()}},
		batchNodeSpec{name: "node-a", batch: batchTOML, hooks: hooks},
		batchNodeSpec{name: "node-b", batch: batchTOML, hooks: hooks})
	a, b := c.nodes[0], c.nodes[1]
	t.Cleanup(func() {
		for _, n := range c.nodes {
			_ = n.logd.Proc.Signal(syscall.SIGCONT)
		}
	})

	const total = 520
	var tasks []batchTask
	for i := range total {
		tasks = append(tasks, echoTask(c.nodes[i%2], fmt.Sprintf("t%03d", i), 1+(i*37)%300))
	}

	// The tasks run in the background while the leader is disrupted.
	watch := c.watchEpochs(250 * time.Millisecond)
	var done atomic.Int32
	finished := make(chan []error, 1)
	start := time.Now()
	go func() { finished <- runTasks(tasks, 8, &done) }()
	reach := func(n int32) {
		for done.Load() < n && len(finished) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	first, l1 := c.waitLeader(t, nil, 20*time.Second)
	reach(total / 4)
	t.Logf("%d tasks done; SIGKILL the compactor's leader %s (epoch %d)", done.Load(), first.name, l1.Epoch)
	first.logd.Proc.Kill()
	second, l2 := c.waitLeader(t, first, 30*time.Second)
	t.Logf("%d tasks done; %s took the lease over at epoch %d; %s starts again", done.Load(), second.name, l2.Epoch, first.name)
	first.restartLogd(t, nil)
	reach(total / 2)
	t.Logf("%d tasks done; SIGSTOP the leader %s, until another takes the lease", done.Load(), second.name)
	if err := second.logd.Proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	third, l3 := c.waitLeader(t, second, 30*time.Second)
	if err := second.logd.Proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tasks done; %s took the lease at epoch %d; %s resumed, believing itself the leader", done.Load(), third.name, l3.Epoch, second.name)
	for _, err := range <-finished {
		t.Error(err)
	}
	t.Logf("%d tasks on 2 nodes in %v", total, time.Since(start).Round(100*time.Millisecond))
	waitDrained(t, 90*time.Second, a, b)

	t.Run("500+ tasks on two nodes: every log read back by ID alone, byte-exact, stored once", func(t *testing.T) {
		c.readBack(t, tasks, 60*time.Second)
		c.checkOnce(t, onceEach(tasks))
	})

	// A few more cycles, for a resumed stale leader to try its luck.
	time.Sleep(3 * time.Second)
	watch.Stop()
	t.Run("two compactors racing: the lease's and each index object's epoch only grow, one holder per epoch", func(t *testing.T) {
		watch.mu.Lock()
		defer watch.mu.Unlock()
		holders := map[int64]map[string]bool{}
		for i, l := range watch.leases {
			if holders[l.Epoch] == nil {
				holders[l.Epoch] = map[string]bool{}
			}
			holders[l.Epoch][l.Holder] = true
			if i > 0 && l.Epoch < watch.leases[i-1].Epoch {
				t.Errorf("the lease went from epoch %d (%s) back to %d (%s)", watch.leases[i-1].Epoch, watch.leases[i-1].Holder, l.Epoch, l.Holder)
			}
		}
		for epoch, hs := range holders {
			if len(hs) != 1 {
				t.Errorf("epoch %d held by %d compactors: %v", epoch, len(hs), hs)
			}
		}
		if len(holders) < 3 {
			t.Errorf("the lease saw epochs %v: want at least 3 (two takeovers)", holders)
		}
		for key, epochs := range watch.index {
			for i := 1; i < len(epochs); i++ {
				if epochs[i] < epochs[i-1] {
					t.Errorf("index object %s went from epoch %d back to %d (versions seen: %v)", key, epochs[i-1], epochs[i], epochs)
				}
			}
		}
		if len(watch.index) == 0 {
			t.Error("no index object seen")
		}
		var summary []string
		for _, l := range watch.leases {
			if n := len(summary); n == 0 || !strings.HasPrefix(summary[n-1], fmt.Sprintf("%d:", l.Epoch)) {
				summary = append(summary, fmt.Sprintf("%d:%s", l.Epoch, l.Holder))
			}
		}
		t.Logf("lease epochs and holders seen: %v; %d versions of %d index objects read", summary, watch.reads, len(watch.index))
	})

	t.Run("an ID run twice, on two nodes: the latest by default, both with --all-runs", func(t *testing.T) {
		runTwice := func(n *batchNode, text string) batchTask {
			return batchTask{node: n, id: "twice", script: "echo " + text, stdout: text + "\n"}
		}
		one, two := runTwice(a, "first-run"), runTwice(b, "second-run")
		mustRun(t, []batchTask{one}, 1)
		c.readBack(t, []batchTask{one}, 30*time.Second)
		mustRun(t, []batchTask{two}, 1)
		waitDrained(t, 30*time.Second, b)
		var out, stderr string
		var err error
		if !harness.WaitFor(30*time.Second, func() bool {
			out, stderr, err = c.briskctl("logs", "-n", batchNS, "twice")
			return err == nil && out == two.stdout
		}) {
			t.Fatalf("briskctl logs twice: %v %q %q; want the second run", err, out, stderr)
		}
		if !strings.Contains(stderr, `task "twice" has 2 runs; showing the latest (run 2)`) {
			t.Errorf("briskctl logs twice says %q; want it to name 2 runs", stderr)
		}
		out, stderr, err = c.briskctl("logs", "-n", batchNS, "--all-runs", "twice")
		if err != nil || out != one.stdout+two.stdout || !strings.Contains(stderr, "==> run 1 of 2") || !strings.Contains(stderr, "==> run 2 of 2") {
			t.Errorf("briskctl logs --all-runs twice: %v, stdout %q, stderr %q", err, out, stderr)
		}
		c.checkOnce(t, map[string]int{"twice": 2})
	})

	t.Run("a log over standalone_over: stored alone under batch-large/, found by ID, byte-exact", func(t *testing.T) {
		bt := batchTask{node: b, id: "big", script: "cat /payload/big.b64", stdout: big.String()}
		mustRun(t, []batchTask{bt}, 1)
		c.readBack(t, []batchTask{bt}, 30*time.Second)
		var entries []batch.Entry
		for _, tr := range c.batches(t) {
			for _, e := range tr.Entries {
				if e.Meta.ID == "big" {
					entries = append(entries, e)
				}
			}
		}
		if len(entries) != 1 || !strings.HasPrefix(entries[0].Object, batch.LargeDir) || entries[0].Length != 0 {
			t.Fatalf("the batches list big as %+v; want one entry naming an object under %s", entries, batch.LargeDir)
		}
		head, err := c.store.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(entries[0].Object)})
		if err != nil {
			t.Fatalf("%s: %v", entries[0].Object, err)
		}
		size := aws.ToInt64(head.ContentLength)
		if size <= 64<<10 || size >= int64(big.Len()) {
			t.Errorf("%s holds %d bytes; want the %d-byte log gzipped, over 64 KiB", entries[0].Object, size, big.Len())
		}
		t.Logf("a %d-byte log stored alone as %s, %d bytes", big.Len(), entries[0].Object, size)
	})

	t.Run("a corrupted trailer: the logs of its batch are still found by ID, byte-exact, by a rebuild", func(t *testing.T) {
		want := map[string]batchTask{}
		for _, bt := range tasks {
			want[bt.id] = bt
		}
		// A batch of the 500 with two logs or more; the second one's
		// offset in the trailer is changed, by one digit, so that the
		// trailer still parses and only its CRC tells.
		var key string
		var tr *batch.Trailer
		trailers := c.batches(t)
		keys := make([]string, 0, len(trailers))
		for k := range trailers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if es := trailers[k].Entries; len(es) >= 2 && es[1].Object == "" && es[1].Offset > 0 && want[es[0].Meta.ID].id != "" && want[es[1].Meta.ID].id != "" {
				key, tr = k, trailers[k]
				break
			}
		}
		if key == "" {
			t.Fatal("no batch of two logs or more")
		}
		ctx := context.Background()
		orig, err := c.store.Read(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		footer := orig.Body[len(orig.Body)-batch.FooterSize:]
		var off, n, crc uint64
		if _, err := fmt.Sscanf(string(footer), "brisk-batch 1 trailer=%x+%x crc32c=%x", &off, &n, &crc); err != nil {
			t.Fatalf("footer %q: %v", footer, err)
		}
		trailer := orig.Body[off : off+n]
		target := tr.Entries[1]
		field := fmt.Sprintf(`"offset":%d,`, target.Offset)
		digits := strconv.FormatInt(target.Offset, 10)
		last := digits[len(digits)-1]
		altered := fmt.Sprintf(`"offset":%s%c,`, digits[:len(digits)-1], '0'+(last-'0'+1)%10)
		if bytes.Count(trailer, []byte(field)) != 1 {
			t.Fatalf("trailer of %s holds %q %d times", key, field, bytes.Count(trailer, []byte(field)))
		}
		corrupt := append(append(append([]byte{}, orig.Body[:off]...), bytes.Replace(trailer, []byte(field), []byte(altered), 1)...), footer...)
		if len(corrupt) != len(orig.Body) {
			t.Fatalf("corrupted batch of %d bytes, was %d", len(corrupt), len(orig.Body))
		}
		put := func(body []byte) {
			if _, err := c.store.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
		}
		put(corrupt)
		defer put(orig.Body) // for the next test's reading of every trailer
		t.Logf("batch %s of %d logs: the trailer's %s made %s, the footer's CRC kept", key, len(tr.Entries), field, altered)
		var inBatch []batchTask
		for _, e := range tr.Entries {
			if bt, ok := want[e.Meta.ID]; ok {
				inBatch = append(inBatch, bt)
			}
		}
		// briskctl prints each log as the task wrote it, and nothing
		// else: the reader found the trailer corrupt by its CRC, and
		// the runs from the members' own headers.
		c.readBack(t, inBatch, 10*time.Second)
		if _, err := batch.ReadTrailer(ctx, c.store, key); !errors.Is(err, batch.ErrCorrupt) {
			t.Errorf("the corrupted trailer of %s reads back with %v; want ErrCorrupt", key, err)
		}
	})

	t.Run("S3 down for a minute: every log lands once, found by ID", func(t *testing.T) {
		c.minio.Stop()
		down := time.Now()
		var outage []batchTask
		for i := 0; time.Since(down) < time.Minute; i++ {
			round := []batchTask{echoTask(a, fmt.Sprintf("down-%02d-a", i), 5+i), echoTask(b, fmt.Sprintf("down-%02d-b", i), 5+i)}
			mustRun(t, round, 2)
			outage = append(outage, round...)
			time.Sleep(4 * time.Second)
		}
		for _, n := range c.nodes {
			if p := n.pending(t); p == 0 {
				t.Errorf("%s's spool is empty with S3 down", n.name)
			}
		}
		c.minio.Start()
		t.Logf("S3 down %v; %d tasks ran and exited meanwhile", time.Since(down).Round(time.Second), len(outage))
		back := time.Now()
		// A batch that failed waits out its back-off (up to a minute)
		// before its next attempt.
		waitDrained(t, 150*time.Second, a, b)
		t.Logf("every log stored %v after S3 came back", time.Since(back).Round(time.Second))
		c.readBack(t, outage, 60*time.Second)
		c.checkOnce(t, onceEach(append(outage, tasks...)))
	})
}

// TestBatchModeSkewAndKills: two nodes whose clocks are 10 s apart (one
// 5 s ahead, one 5 s behind); then the one behind has its brisk-logd
// SIGKILLed twice: before its batch is stored, and after the store took
// the batch but before it heard.
func TestBatchModeSkewAndKills(t *testing.T) {
	// A batch every 2 s and a compactor cycle of 1 s: logs are found by
	// ID seconds after their tasks' ends. The lease keeps its default TTL
	// (45 s): the skew tolerated is the default 10 s.
	c := newBatchCluster(t, nil,
		batchNodeSpec{name: "ahead", batch: `interval = "2s"`, hooks: []string{"BRISK_TEST_CLOCK_OFFSET=5s", "BRISK_TEST_COMPACT_CYCLE=1s"}},
		batchNodeSpec{name: "behind", batch: `interval = "2s"`, hooks: []string{"BRISK_TEST_CLOCK_OFFSET=-5s", "BRISK_TEST_COMPACT_CYCLE=1s"}, proxy: true})
	ahead, behind := c.nodes[0], c.nodes[1]
	// The compactor runs ahead: to it, the batches of the node behind
	// were sealed 10 s ago.
	if leader, _ := c.waitLeader(t, nil, 20*time.Second); leader != ahead {
		t.Fatalf("the compactor runs on %s; this test wants it on the node ahead", leader.name)
	}

	t.Run("±5 s clock skew between nodes: every log found by ID alone", func(t *testing.T) {
		var tasks []batchTask
		for i := range 40 {
			tasks = append(tasks, echoTask(c.nodes[i%2], fmt.Sprintf("skew-%02d", i), 1+i*7))
		}
		mustRun(t, tasks, 6)
		c.readBack(t, tasks, 60*time.Second)
		c.checkOnce(t, onceEach(tasks))
		// The nodes' clocks are apart indeed: the time in a batch's key
		// (its node's, when sealed) is ahead of, or behind, when MinIO
		// stored it (seconds only).
		out, err := c.store.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(batch.Dir)})
		if err != nil {
			t.Fatal(err)
		}
		offsets := map[string][]time.Duration{}
		for _, o := range out.Contents {
			k, ok := batch.ParseKey("", aws.ToString(o.Key))
			if !ok {
				t.Fatalf("%s is no batch key", aws.ToString(o.Key))
			}
			offsets[k.Node] = append(offsets[k.Node], k.Sealed.Sub(aws.ToTime(o.LastModified)).Round(100*time.Millisecond))
		}
		for node, want := range map[string]time.Duration{"ahead": 5 * time.Second, "behind": -5 * time.Second} {
			if len(offsets[node]) == 0 {
				t.Errorf("no batch of %s", node)
			}
			for _, d := range offsets[node] {
				// MinIO's time is whole seconds, and the PUT takes some.
				if d < want-2500*time.Millisecond || d > want+2500*time.Millisecond {
					t.Errorf("a batch key of %s is %v from when MinIO stored it; want about %v", node, d, want)
				}
			}
		}
		t.Logf("batch key time minus MinIO's time of storing: %v", offsets)
	})

	var twice []batchTask
	t.Run("brisk-logd SIGKILLed before its batch is stored: nothing lost, nothing twice", func(t *testing.T) {
		// A long interval: the logs wait in the open batch, claimed,
		// when brisk-logd is killed.
		behind.restartLogd(t, func(s string) string { return strings.Replace(s, `interval = "2s"`, `interval = "60s"`, 1) })
		var tasks []batchTask
		for i := range 10 {
			tasks = append(tasks, echoTask(behind, fmt.Sprintf("killed-before-%02d", i), 3+i))
		}
		mustRun(t, tasks, 5)
		for _, text := range []string{"first-run", "second-run"} {
			bt := batchTask{node: behind, id: "twice", script: "echo " + text, stdout: text + "\n"}
			mustRun(t, []batchTask{bt}, 1)
			twice = append(twice, bt)
		}
		time.Sleep(time.Second) // the hand-offs are taken
		for id := range runsOf(c.batches(t)) {
			if strings.HasPrefix(id, "killed-before-") || id == "twice" {
				t.Fatalf("%s is stored already: the batch was to wait 60 s", id)
			}
		}
		if p := behind.pending(t); p != 12 {
			t.Fatalf("%d entries in the spool of %s before the kill; want 12", p, behind.name)
		}
		behind.logd.Proc.Kill()
		behind.restartLogd(t, func(s string) string { return strings.Replace(s, `interval = "60s"`, `interval = "2s"`, 1) })
		waitDrained(t, 30*time.Second, behind)
		c.readBack(t, tasks, 30*time.Second)
		want := onceEach(tasks)
		want["twice"] = 2
		c.checkOnce(t, want)
	})

	t.Run("an ID run twice, in one batch: the latest by default, both with --all-runs", func(t *testing.T) {
		if len(twice) != 2 {
			t.Skip("runs in the test before")
		}
		runs := runsOf(c.batches(t))["twice"]
		var keys []string
		for _, ks := range runs {
			keys = append(keys, ks...)
		}
		if len(runs) != 2 || len(keys) != 2 || keys[0] != keys[1] {
			t.Errorf("the runs of twice are in batches %v; want both in one", runs)
		}
		out, stderr, err := c.briskctl("logs", "-n", batchNS, "twice")
		if err != nil || out != twice[1].stdout || !strings.Contains(stderr, `task "twice" has 2 runs; showing the latest (run 2)`) {
			t.Errorf("briskctl logs twice: %v, stdout %q, stderr %q; want the second run", err, out, stderr)
		}
		out, stderr, err = c.briskctl("logs", "-n", batchNS, "--all-runs", "twice")
		if err != nil || out != twice[0].stdout+twice[1].stdout || !strings.Contains(stderr, "==> run 1 of 2") || !strings.Contains(stderr, "==> run 2 of 2") {
			t.Errorf("briskctl logs --all-runs twice: %v, stdout %q, stderr %q", err, out, stderr)
		}
	})

	t.Run("brisk-logd SIGKILLed after the store took its batch, before it heard: nothing twice", func(t *testing.T) {
		behind.proxy.Arm("/" + bucket + "/" + batch.Dir)
		var tasks []batchTask
		for i := range 8 {
			tasks = append(tasks, echoTask(behind, fmt.Sprintf("killed-after-%02d", i), 4+i))
		}
		ran := make(chan []error, 1)
		go func() { ran <- runTasks(tasks, 8, nil) }()
		var held string
		select {
		case held = <-behind.proxy.Held:
		case <-time.After(30 * time.Second):
			t.Fatalf("no batch PUT from %s within 30 s:\n%s", behind.name, behind.logd.Proc.LogTail())
		}
		behind.logd.Proc.Kill()
		behind.proxy.Disarm()
		for _, err := range <-ran {
			t.Error(err)
		}
		key := strings.TrimPrefix(held, "/"+bucket+"/")
		tr, err := batch.ReadTrailer(context.Background(), c.store, key)
		if err != nil {
			t.Fatalf("the batch MinIO took, %s: %v", key, err)
		}
		if p := behind.pending(t); p < len(tr.Entries) {
			t.Fatalf("%d entries in the spool after the kill; want at least the %d of the stored batch, unsettled", p, len(tr.Entries))
		}
		t.Logf("MinIO stored %s (%d logs); brisk-logd was killed before the answer; %d entries in the spool", key, len(tr.Entries), behind.pending(t))
		behind.restartLogd(t, nil)
		waitDrained(t, 30*time.Second, behind)
		c.readBack(t, tasks, 30*time.Second)
		c.checkOnce(t, onceEach(tasks))
	})
}

// TestBatchModeRequestsPerTask counts, in MinIO, the S3 requests of every
// kind one node in batch mode sends while ~150 tasks run at about 5 a
// second, with the defaults (a batch every 10 s, the compactor every 10 s,
// a lease of 45 s): at this small scale the fixed costs (the compactor's
// listing and index write each cycle, the lease's renewals) weigh most.
func TestBatchModeRequestsPerTask(t *testing.T) {
	c := newBatchCluster(t, nil, batchNodeSpec{name: "solo"})
	n := c.nodes[0]
	c.waitLeader(t, nil, 20*time.Second)
	time.Sleep(2 * time.Second) // the compactor's first cycle, after it took the lease
	startup, err := c.minio.S3Requests()
	if err != nil {
		t.Fatal(err)
	}
	metrics := func() string {
		resp, err := harness.UnixClient(n.logd.Socket).Get("http://logd/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return b.String()
	}
	value := func(text, series string) float64 {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	logdBefore := metrics()

	// What is counted: every S3 request MinIO answers from the first
	// task's start until the last task's log is stored and indexed, all
	// from brisk-logd (shims send none in batch mode; this test sends
	// none in that time). brisk-logd's start (its probe, its first take
	// of the lease) is before, the read-back by ID after.
	const total = 150
	var tasks []batchTask
	for i := range total {
		tasks = append(tasks, echoTask(n, fmt.Sprintf("paced-%03d", i), 1+i%50))
	}
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	tick := time.NewTicker(200 * time.Millisecond)
	for _, bt := range tasks {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := bt.run(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	tick.Stop()
	wg.Wait()
	ran := time.Since(start)
	for _, err := range errs {
		t.Error(err)
	}
	var text string
	if !harness.WaitFor(60*time.Second, func() bool {
		text = metrics()
		stored := value(text, `brisk_logd_batches_total{result="stored"}`)
		return n.pending(t) == 0 && stored > 0 && value(text, "brisk_logd_indexed_batches_total") >= stored
	}) {
		t.Fatalf("not every log stored and indexed after 60 s: %d pending\n%s", n.pending(t), grepLines(text, "brisk_logd_"))
	}
	window := time.Since(start)
	end, err := c.minio.S3Requests()
	if err != nil {
		t.Fatal(err)
	}
	var requests float64
	var byAPI []string
	for api, v := range end {
		if d := v - startup[api]; d > 0 {
			requests += d
			byAPI = append(byAPI, fmt.Sprintf("%s %v", api, d))
		}
	}
	sort.Strings(byAPI)
	var atStart float64
	for _, v := range startup {
		atStart += v
	}
	var byPurpose []string
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "brisk_s3_requests_total{") {
			f := strings.Fields(line)
			before := value(logdBefore, f[0])
			now, _ := strconv.ParseFloat(f[1], 64)
			if now > before {
				byPurpose = append(byPurpose, fmt.Sprintf("%s %v", strings.TrimPrefix(f[0], "brisk_s3_requests_total"), now-before))
			}
		}
	}
	sort.Strings(byPurpose)
	perTask := requests / total
	t.Logf("%d tasks in %v (%.1f tasks/s); stored and indexed %v after the first started; %d batches",
		total, ran.Round(100*time.Millisecond), total/ran.Seconds(), window.Round(100*time.Millisecond), int(value(text, `brisk_logd_batches_total{result="stored"}`)))
	t.Logf("MinIO answered %v S3 requests in that time: %.3f per task (limit 0.15); by API: %s", requests, perTask, strings.Join(byAPI, ", "))
	t.Logf("brisk-logd's own count by operation and purpose: %s", strings.Join(byPurpose, ", "))
	t.Logf("before the first task (MinIO's bucket, brisk-logd's probe and first take of the lease, the test's own): %v requests", atStart)
	if perTask > 0.15 {
		t.Errorf("%.3f S3 requests per task at %.1f tasks/s; want at most 0.15", perTask, total/ran.Seconds())
	}
	t.Run("every log found by ID alone (reads not counted)", func(t *testing.T) {
		c.readBack(t, tasks, 60*time.Second)
	})
}

// TestBatchModeRefusesAStoreWithoutConditionalWrites: brisk-logd in batch
// mode against an S3 endpoint that ignores If-None-Match and If-Match
// stops at start, naming the store, rather than batch with no guard
// against storing a batch twice.
func TestBatchModeRefusesAStoreWithoutConditionalWrites(t *testing.T) {
	env := harness.New(t)
	env.Require(filepath.Join(env.BriskBin, "brisk-logd"))
	fake := storetest.New(t)
	fake.IgnoreConditions = true
	s3cfg := fake.Config()
	tokens := env.Path("tokens")
	if err := os.WriteFile(tokens, []byte(harness.LogdToken+" *\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := env.Path("logd.toml")
	toml := fmt.Sprintf(`[logs]
spool_dir = %q
upload = "batch"
[logs.s3]
bucket = %q
endpoint = %q
path_style = true
region = %q
[logs.api]
socket = %q
listen = "127.0.0.1:%d"
tokens_file = %q
node_name = "no-conditions"
`, env.Path("spool"), s3cfg.Bucket, s3cfg.Endpoint, s3cfg.Region, env.Path("logd.sock"), harness.FreePort(t), tokens)
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	p := env.Start("brisk-logd-no-conditions", nil, filepath.Join(env.BriskBin, "brisk-logd"), "--config", cfg)
	err := p.Wait(30 * time.Second)
	if p.Running() {
		t.Fatalf("brisk-logd in batch mode still runs against a store that ignores conditional writes:\n%s", p.LogTail())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Errorf("brisk-logd exited with %v; want a non-zero status", err)
	}
	out, _ := os.ReadFile(p.Log)
	// The error it stops on: "brisk-logd: " and the error's text.
	_, last, _ := strings.Cut(string(out), "\nbrisk-logd: ")
	if !strings.Contains(last, s3cfg.Endpoint) || !strings.Contains(last, "does not honour conditional writes") {
		t.Errorf("brisk-logd stopped with %q; want an error naming the store (%s) and conditional writes; its log:\n%s", last, s3cfg.Endpoint, out)
	}
	if fake.Requests.Load() == 0 {
		t.Error("brisk-logd sent the fake store no request")
	}
	// Nothing that relies on conditional writes ran: no compactor took
	// the lease.
	if _, ok := fake.Object("index/lease"); ok {
		t.Errorf("brisk-logd wrote the compactor's lease to a store without conditional writes; the store holds %v", fake.Keys())
	}
	t.Logf("brisk-logd: %s", strings.TrimSpace(last))
}
