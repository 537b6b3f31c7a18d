package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"golang.org/x/sys/unix"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

const (
	runtimeBrisk = "io.containerd.brisk.v2"
	bucket       = "brisk-logs"
	payloads     = 50
)

// shimStack is containerd with the brisk runtime, MinIO, and an image that
// carries payload files the tasks write out.
type shimStack struct {
	env      *harness.Env
	ctd      *harness.Containerd
	sn       *harness.Snapshotter // nil unless asked for
	logd     *harness.Logd        // the node's log daemon, on the shims' spool
	minio    *harness.MinIO
	cfg      config.Logs
	cfgPath  string
	logsTOML string // the [logs] sections, for brisk-snapshotter's config
	store    *store.S3
	image    string
	payloads map[string][]byte // image path -> content
}

func newShimStack(t *testing.T, compression string) *shimStack {
	return newShimStackWith(t, compression, nil)
}

// newShimStackWith also starts brisk-snapshotter when snapshotters names
// "brisk", unpacks the image for each snapshotter, and passes opts to
// containerd.
func newShimStackWith(t *testing.T, compression string, snapshotters []string, opts ...harness.ContainerdOpt) *shimStack {
	env := harness.New(t)
	env.Require(filepath.Join(env.BriskBin, "containerd-shim-brisk-v2"))
	m := env.StartMinIO()
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	s := &shimStack{env: env, minio: m, payloads: map[string][]byte{}}
	s.cfgPath = env.Path("brisk-shim.toml")
	s.logsTOML = fmt.Sprintf(`[logs]
spool_dir = %q
local_dir = %q
upload_timeout = "3s"
max_bytes = "64Mi"
[logs.s3]
bucket = %q
endpoint = %q
path_style = true
region = %q
compression = %q
[logs.api]
socket = %q
`, env.Path("spool"), env.Path("logs"), bucket, m.Endpoint, m.Region, compression, env.Path("logd.sock"))
	if err := os.WriteFile(s.cfgPath, []byte(s.logsTOML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(s.cfgPath, false)
	if err != nil {
		t.Fatal(err)
	}
	s.cfg = cfg.Logs
	s.store, err = store.ConnectS3(context.Background(), cfg.Logs.S3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	var files []harness.ImageFile
	for i := 0; i < payloads; i++ {
		for _, stream := range []string{"out", "err"} {
			p := make([]byte, 200_000+i*2000)
			_, _ = rand.Read(p)
			if i%2 == 0 {
				p[len(p)-1] = '\n' // half end in a newline, half do not
			} else if p[len(p)-1] == '\n' {
				p[len(p)-1] = 'x'
			}
			path := fmt.Sprintf("/payload/%d.%s", i, stream)
			s.payloads[path] = p
			files = append(files, harness.ImageFile{Path: path, Mode: 0o644, Data: p})
		}
	}
	files = append(files, harness.ImageFile{Path: "/payload/logger.sh", Mode: 0o755, Data: []byte("#!/bin/sh\n")})
	if len(snapshotters) == 0 {
		snapshotters = []string{"overlayfs"}
	}
	if slices.Contains(snapshotters, "brisk") {
		s.sn = env.StartSnapshotter("")
		opts = append(opts, s.sn.ProxyConfig())
	}
	// The node's log daemon: it ships what the shims hand over or leave.
	s.logd = env.StartLogd("node", s.logsTOML, nil)
	s.ctd = env.StartContainerd(append(opts, harness.WithEnv(append(m.Env(), config.EnvPath+"="+s.cfgPath)...))...)
	s.image = s.ctd.ImportImage(snapshotters, files...)
	return s
}

// latestKey is the key of the latest stored run of id.
func (s *shimStack) latestKey(id string) (string, error) {
	shipper, err := ship.New(context.Background(), s.cfg, ship.WithStore(s.store))
	if err != nil {
		return "", err
	}
	runs, err := shipper.Runs(context.Background(), s.ctd.Namespace, id)
	if err != nil {
		return "", err
	}
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].Dir == "" {
			return runs[i].Key, nil
		}
	}
	return "", fmt.Errorf("no stored run of %q: %w", id, store.ErrNotFound)
}

// object fetches the latest run of a task's log from MinIO and splits it by
// stream.
func (s *shimStack) object(t *testing.T, id string) (map[spool.Stream][]byte, map[string]string, error) {
	t.Helper()
	key, err := s.latestKey(id)
	if err != nil {
		return nil, nil, err
	}
	body, meta, err := s.store.Get(context.Background(), key)
	if err != nil {
		return nil, nil, err
	}
	streams := map[spool.Stream][]byte{}
	err = spool.Decode(bytes.NewReader(body), func(r spool.Record) error {
		streams[r.Stream] = append(streams[r.Stream], r.Bytes()...)
		return nil
	})
	return streams, meta, err
}

// waitObject polls until the task's object exists.
func (s *shimStack) waitObject(t *testing.T, id string, timeout time.Duration) (map[spool.Stream][]byte, map[string]string) {
	t.Helper()
	var (
		streams map[spool.Stream][]byte
		meta    map[string]string
		err     error
	)
	if !harness.WaitFor(timeout, func() bool { streams, meta, err = s.object(t, id); return err == nil }) {
		t.Fatalf("no object for %s after %v: %v", id, timeout, err)
	}
	return streams, meta
}

// shipLeftovers waits until every task of ids has its object, running
// briskctl flush for what is missing. A shim gives up shipping after
// upload_timeout (3 s in this stack) and leaves the entry to the node's
// retrier, which this stack does not run; a burst of 50 on a loaded 2-core
// machine can pass that (CI saw one such entry in four runs). briskctl
// flush is the documented way to ship what is left: a test of the bytes
// must not also be a test of how soon they ship. Entries still locked by a
// shim that is uploading show as running and are waited for.
func (s *shimStack) shipLeftovers(t *testing.T, ids []string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for flushes := 0; ; flushes++ {
		var missing []string
		for _, id := range ids {
			if _, _, err := s.object(t, id); err != nil {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			if flushes > 0 {
				t.Logf("%d briskctl flush runs shipped what shims left after upload_timeout", flushes)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no object for %v after %d briskctl flush runs", missing, flushes)
		}
		time.Sleep(time.Second)
		out, _, err := s.briskctl("flush")
		if flushes > 0 || err != nil {
			t.Logf("briskctl flush (missing %v): %v\n%s", missing, err, out)
		}
	}
}

func (s *shimStack) run(args ...string) (string, string, error) {
	return s.ctd.Ctr(append([]string{"run", "--rm", "--runtime", runtimeBrisk}, args...)...)
}

func TestShimCapturesEveryByte(t *testing.T) {
	s := newShimStack(t, config.CompressionNone)

	t.Run("50 tasks at once, byte-exact, ctr output unchanged", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, payloads)
		for i := 0; i < payloads; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				id := fmt.Sprintf("burst-%d", i)
				cmd := exec.Command(filepath.Join(s.env.ToolsBin, "ctr"), "--address", s.ctd.Address, "--namespace", s.ctd.Namespace,
					"run", "--rm", "--runtime", runtimeBrisk, s.image, id, "sh", "-c", fmt.Sprintf("cat /payload/%d.out; cat /payload/%d.err >&2", i, i))
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				if err := cmd.Run(); err != nil {
					errs <- fmt.Errorf("%s: %v", id, err)
					return
				}
				wantOut, wantErr := s.payloads[fmt.Sprintf("/payload/%d.out", i)], s.payloads[fmt.Sprintf("/payload/%d.err", i)]
				if !bytes.Equal(out.Bytes(), wantOut) {
					errs <- fmt.Errorf("%s: ctr's stdout differs (%d bytes, want %d)", id, out.Len(), len(wantOut))
				}
				// ctr writes its own warnings to stderr as well.
				if !bytes.Contains(errb.Bytes(), wantErr) {
					errs <- fmt.Errorf("%s: ctr's stderr lacks the payload (%d bytes, want %d + warnings; tail %q)", id, errb.Len(), len(wantErr), tail(errb.Bytes()))
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		var ids []string
		for i := 0; i < payloads; i++ {
			ids = append(ids, fmt.Sprintf("burst-%d", i))
		}
		s.shipLeftovers(t, ids)
		for i := 0; i < payloads; i++ {
			id := fmt.Sprintf("burst-%d", i)
			streams, meta := s.waitObject(t, id, 30*time.Second)
			wantOut, wantErr := s.payloads[fmt.Sprintf("/payload/%d.out", i)], s.payloads[fmt.Sprintf("/payload/%d.err", i)]
			if !bytes.Equal(streams[spool.Stdout], wantOut) || !bytes.Equal(streams[spool.Stderr], wantErr) {
				t.Errorf("%s: object differs: stdout %d/%d bytes, stderr %d/%d", id, len(streams[spool.Stdout]), len(wantOut), len(streams[spool.Stderr]), len(wantErr))
			}
			for k, want := range map[string]string{
				"brisk-exit-code": "0", "brisk-complete": "true", "brisk-truncated-bytes": "0",
				"brisk-stdout-bytes": fmt.Sprint(len(wantOut)), "brisk-stderr-bytes": fmt.Sprint(len(wantErr)), "brisk-task-id": id,
			} {
				if meta[k] != want {
					t.Errorf("%s: metadata %s = %q, want %q", id, k, meta[k], want)
				}
			}
			for _, k := range []string{"brisk-started", "brisk-exited"} {
				if _, err := time.Parse(time.RFC3339, meta[k]); err != nil {
					t.Errorf("%s: metadata %s = %q is not RFC 3339", id, k, meta[k])
				}
			}
			if meta["brisk-node"] == "" || meta["brisk-inodes-used"] == "" || meta["brisk-bytes-used"] == "" {
				t.Errorf("%s: metadata lacks node or usage: %v", id, meta)
			}
		}
	})

	t.Run("exit codes as runc", func(t *testing.T) {
		for _, code := range []int{0, 1, 3, 137} {
			id := fmt.Sprintf("exit-%d", code)
			_, _, errB := s.run(s.image, id, "sh", "-c", fmt.Sprintf("echo code; exit %d", code))
			_, _, errR := s.ctd.Ctr("run", "--rm", s.image, id+"-runc", "sh", "-c", fmt.Sprintf("echo code; exit %d", code))
			if fmt.Sprint(errB != nil) != fmt.Sprint(errR != nil) {
				t.Errorf("exit %d: brisk %v, runc %v", code, errB, errR)
			}
			_, meta := s.waitObject(t, id, 15*time.Second)
			if meta["brisk-exit-code"] != fmt.Sprint(code) {
				t.Errorf("exit %d recorded as %q", code, meta["brisk-exit-code"])
			}
		}
	})

	t.Run("detached task is captured", func(t *testing.T) {
		s.ctd.MustCtr("run", "-d", "--runtime", runtimeBrisk, s.image, "detached", "sh", "-c", "cat /payload/1.out")
		streams, _ := s.waitObject(t, "detached", 20*time.Second)
		if !bytes.Equal(streams[spool.Stdout], s.payloads["/payload/1.out"]) {
			t.Errorf("detached: %d bytes captured, want %d", len(streams[spool.Stdout]), len(s.payloads["/payload/1.out"]))
		}
		_, _, _ = s.ctd.Ctr("tasks", "delete", "detached")
		_, _, _ = s.ctd.Ctr("containers", "delete", "detached")
	})

	t.Run("file consumer gets every byte too", func(t *testing.T) {
		path := s.env.Path("file-consumer.log")
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, "--log-uri", "file://"+path, s.image, "file-uri", "sh", "-c", "cat /payload/2.out; cat /payload/2.err >&2")
		streams, _ := s.waitObject(t, "file-uri", 20*time.Second)
		got, _ := os.ReadFile(path)
		want := append(append([]byte{}, s.payloads["/payload/2.out"]...), s.payloads["/payload/2.err"]...)
		if len(got) != len(want) {
			t.Errorf("file consumer got %d bytes, want %d", len(got), len(want))
		}
		if !bytes.Equal(streams[spool.Stdout], s.payloads["/payload/2.out"]) {
			t.Errorf("file-uri object stdout differs")
		}
	})

	t.Run("binary logger consumer gets every byte too", func(t *testing.T) {
		logger := s.env.Path("logger.sh")
		out := s.env.Path("logger-out")
		script := "#!/bin/sh\n# containerd logging binary: stdout on fd 3, stderr on fd 4, fd 5 closed when ready\nexec 5>&-\ncat <&3 >\"$2.stdout\" &\ncat <&4 >\"$2.stderr\" &\nwait\n"
		if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, "--log-uri", "binary://"+logger+"?out="+out, s.image, "binary-uri", "sh", "-c", "cat /payload/3.out; cat /payload/3.err >&2")
		streams, _ := s.waitObject(t, "binary-uri", 20*time.Second)
		if !bytes.Equal(streams[spool.Stdout], s.payloads["/payload/3.out"]) {
			t.Errorf("binary-uri object stdout differs")
		}
		gotOut, _ := os.ReadFile(out + ".stdout")
		gotErr, _ := os.ReadFile(out + ".stderr")
		if !bytes.Equal(gotOut, s.payloads["/payload/3.out"]) || !bytes.Equal(gotErr, s.payloads["/payload/3.err"]) {
			t.Errorf("logger got %d/%d bytes, want %d/%d", len(gotOut), len(gotErr), len(s.payloads["/payload/3.out"]), len(s.payloads["/payload/3.err"]))
		}
	})

	t.Run("tty task is captured", func(t *testing.T) {
		ctr := fmt.Sprintf("%s --address %s --namespace %s run --rm -t --runtime %s %s tty-task sh -c 'echo hello-from-a-tty'",
			filepath.Join(s.env.ToolsBin, "ctr"), s.ctd.Address, s.ctd.Namespace, runtimeBrisk, s.image)
		out, err := exec.Command("script", "-qec", ctr, "/dev/null").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hello-from-a-tty") {
			t.Fatalf("tty run: %v %q", err, out)
		}
		streams, _ := s.waitObject(t, "tty-task", 20*time.Second)
		if !strings.Contains(string(streams[spool.Stdout]), "hello-from-a-tty") {
			t.Errorf("tty output not captured: %q", streams[spool.Stdout])
		}
	})

	t.Run("slow_consumer = drop: a consumer that never reads does not hold up a 50 MB writer", func(t *testing.T) {
		// By default the task waits for its consumer, as under runc; the
		// shim of this task reads the config when it starts.
		orig, err := os.ReadFile(s.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.WriteFile(s.cfgPath, orig, 0o644) }()
		if err := os.WriteFile(s.cfgPath, []byte(strings.Replace(string(orig), "[logs]\n", "[logs]\nslow_consumer = \"drop\"\n", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		logger := s.env.Path("stuck-logger.sh")
		if err := os.WriteFile(logger, []byte("#!/bin/sh\nexec 5>&-\nsleep 600\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s.ctd.MustCtr("run", "-d", "--runtime", runtimeBrisk, "--log-uri", "binary://"+logger, s.image, "stuck",
			"sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' 'x'; echo; echo done >&2")
		_, meta := s.waitObject(t, "stuck", 60*time.Second)
		t.Logf("50 MB task with a stuck consumer: object after %v", time.Since(start).Round(time.Millisecond))
		if meta["brisk-stdout-bytes"] != "50000001" || meta["brisk-exit-code"] != "0" {
			t.Errorf("metadata %v", meta)
		}
		_, _, _ = s.ctd.Ctr("tasks", "delete", "stuck")
		_, _, _ = s.ctd.Ctr("containers", "delete", "stuck")
	})

	t.Run("logs off and task-id annotations", func(t *testing.T) {
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, "--annotation", "brisk.io/logs=off", s.image, "nolog", "echo", "hi")
		for _, id := range []string{"a/../b", " leading space", "ünïcödé id", "/abs/path", "x/./y"} {
			s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, "--annotation", "brisk.io/task-id="+id, s.image, "named", "echo", id)
			key := ship.Key(s.cfg.S3.Key, s.cfg.S3.Prefix, s.ctd.Namespace, id)
			if strings.Contains(key, "..") || strings.HasPrefix(key, "/") || strings.Contains(key, "//") || strings.Contains(key, "/./") {
				t.Errorf("unsafe key %q for id %q", key, id)
			}
			streams, meta := s.waitObject(t, id, 15*time.Second)
			if string(streams[spool.Stdout]) != id+"\n" {
				t.Errorf("id %q: object holds %q", id, streams[spool.Stdout])
			}
			if meta["brisk-task-id"] == "" {
				t.Errorf("id %q: original id not in metadata", id)
			}
		}
		// Two running tasks may share a log ID: each run has its own
		// entry and object, neither overwrites the other.
		s.ctd.MustCtr("run", "-d", "--runtime", runtimeBrisk, "--annotation", "brisk.io/task-id=dup", s.image, "dup-1", "sh", "-c", "echo one; sleep 30")
		if out, stderr, err := s.ctd.Ctr("run", "--rm", "--runtime", runtimeBrisk, "--annotation", "brisk.io/task-id=dup", s.image, "dup-2", "echo", "two"); err != nil || out != "two\n" {
			t.Errorf("second task with brisk.io/task-id=dup: %v %q %q; want it run", err, out, stderr)
		}
		if streams, _ := s.waitObject(t, "dup", 15*time.Second); string(streams[spool.Stdout]) != "two\n" {
			t.Errorf("second run's object holds %q", streams[spool.Stdout])
		}
		_, _, _ = s.ctd.Ctr("tasks", "delete", "--force", "dup-1")
		_, _, _ = s.ctd.Ctr("containers", "delete", "dup-1", "dup-2")
		time.Sleep(time.Second)
		if _, _, err := s.object(t, "nolog"); err == nil {
			t.Error("brisk.io/logs=off still shipped a log")
		}
	})
}

func TestShimLosesNothing(t *testing.T) {
	s := newShimStack(t, config.CompressionGzip)

	t.Run("gzip objects decode to the original", func(t *testing.T) {
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "gz", "cat", "/payload/4.out")
		streams, _ := s.waitObject(t, "gz", 20*time.Second)
		if !bytes.Equal(streams[spool.Stdout], s.payloads["/payload/4.out"]) {
			t.Error("gzip object does not decode to the payload")
		}
		key, err := s.latestKey("gz")
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.store.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil || aws.ToString(out.ContentEncoding) != "gzip" {
			t.Errorf("Content-Encoding %v %v", out, err)
		}
	})

	t.Run("S3 down at exit: the log arrives once it is back, no command run", func(t *testing.T) {
		// The snapshotter exports the spool's backlog: what an SRE alerts
		// on. The stack's brisk-logd is the node's log retrier.
		sn := s.env.StartSnapshotter(s.logsTOML)
		metric := func(name string) float64 {
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`)
			m := re.FindStringSubmatch(httpGet(t, "http://"+sn.MetricsAddress+"/metrics"))
			if m == nil {
				t.Fatalf("metrics lack %s", name)
			}
			v, _ := strconv.ParseFloat(m[1], 64)
			return v
		}
		s.minio.Stop()
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "while-down", "cat", "/payload/5.out")
		time.Sleep(4 * time.Second) // past upload_timeout: the shim gave up and left the entry
		if done, age, size := metric(`brisk_logs_spool_entries{state="done"}`), metric("brisk_logs_oldest_pending_seconds"), metric("brisk_logs_spool_bytes"); done != 1 || age < 3 || size < float64(len(s.payloads["/payload/5.out"])) {
			t.Errorf("spool metrics during the outage: done %v, oldest pending %vs, %v bytes; want 1 entry of the task's log, waiting since its exit", done, age, size)
		}
		s.minio.Start()
		// The node retrier takes up what the shim left, no command run.
		streams, meta := s.waitObject(t, "while-down", 90*time.Second)
		if !bytes.Equal(streams[spool.Stdout], s.payloads["/payload/5.out"]) || meta["brisk-complete"] != "true" {
			t.Errorf("log shipped late differs or is marked incomplete: %v", meta)
		}
		if !harness.WaitFor(5*time.Second, func() bool {
			return metric(`brisk_logs_spool_entries{state="done"}`) == 0 && metric("brisk_logs_oldest_pending_seconds") == 0
		}) {
			t.Errorf("spool metrics still show a pending log after it was shipped")
		}
	})

	t.Run("shim SIGKILLed mid-task: the partial log arrives marked incomplete", func(t *testing.T) {
		s.ctd.MustCtr("run", "-d", "--runtime", runtimeBrisk, s.image, "victim", "sh", "-c", "echo before-the-kill; sleep 600")
		time.Sleep(time.Second)
		pid := shimPid(t, s.env, "victim")
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "after-kill", "true")
		streams, meta := s.waitObject(t, "victim", 60*time.Second)
		if meta["brisk-complete"] != "false" || !strings.Contains(string(streams[spool.Stdout]), "before-the-kill") {
			t.Errorf("partial log: complete=%q stdout=%q", meta["brisk-complete"], streams[spool.Stdout])
		}
		_, _, _ = s.ctd.Ctr("tasks", "delete", "-f", "victim")
		_, _, _ = s.ctd.Ctr("containers", "delete", "victim")
	})

	t.Run("past max_bytes: head and tail kept, also when the shim dies", func(t *testing.T) {
		// Shims read the config when they start: these tasks keep 64 KiB
		// of the ~590 KB that seq writes.
		orig, err := os.ReadFile(s.cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = os.WriteFile(s.cfgPath, orig, 0o644) }()
		small := strings.Replace(string(orig), `max_bytes = "64Mi"`, `max_bytes = "64Ki"`, 1)
		if small == string(orig) {
			t.Fatal("the stack's config has no max_bytes to lower")
		}
		if err := os.WriteFile(s.cfgPath, []byte(small), 0o644); err != nil {
			t.Fatal(err)
		}
		check := func(t *testing.T, id, wantNote, wantComplete string) {
			streams, meta := s.waitObject(t, id, 60*time.Second)
			out := string(streams[spool.Stdout])
			if !strings.HasPrefix(out, "1\n2\n3\n") || !strings.HasSuffix(out, "99999\n100000\n") || len(out) > 64<<10 ||
				!strings.Contains(string(streams[spool.Stderr]), wantNote) || meta["brisk-complete"] != wantComplete {
				t.Errorf("%s: %d bytes of stdout (head %q, tail %q), stderr %q, metadata %v", id, len(out),
					out[:min(len(out), 12)], out[max(0, len(out)-14):], streams[spool.Stderr], meta)
			}
		}
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "long", "seq", "1", "100000")
		check(t, "long", "bytes dropped here: max_bytes keeps the head and the tail]", "true")

		// The newest output of a shim killed past max_bytes is on the spool.
		// No consumer: with one that nobody reads (ctr run -d), the task
		// would wait for it before the end, as under runc.
		s.ctd.MustCtr("run", "-d", "--null-io", "--runtime", runtimeBrisk, s.image, "long-killed", "sh", "-c", "seq 1 100000; sleep 600")
		time.Sleep(2 * time.Second)
		if err := syscall.Kill(shimPid(t, s.env, "long-killed"), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		s.ctd.MustCtr("run", "--rm", "--runtime", runtimeBrisk, s.image, "after-long-kill", "true")
		check(t, "long-killed", "bytes dropped here: max_bytes keeps the head and the tail (as counted at the last rotation of the tail before the shim died)", "false")
		_, _, _ = s.ctd.Ctr("tasks", "delete", "-f", "long-killed")
		_, _, _ = s.ctd.Ctr("containers", "delete", "long-killed")
	})

	t.Run("full spool: the task and its consumer go on, the log says what it lacks", func(t *testing.T) {
		// spool_dir becomes a 64 KiB tmpfs for this one task, which writes
		// ~210 KB to stdout.
		if err := os.MkdirAll(s.cfg.SpoolDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("brisk-test-full-spool", s.cfg.SpoolDir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = unix.Unmount(s.cfg.SpoolDir, unix.MNT_DETACH) }()
		want := s.payloads["/payload/6.out"]
		out, _, err := s.ctd.Ctr("run", "--rm", "--runtime", runtimeBrisk, s.image, "full-spool", "cat", "/payload/6.out")
		if err != nil || out != string(want) {
			t.Fatalf("ctr run with the spool full: %d bytes out (want %d): %v", len(out), len(want), err)
		}
		streams, meta := s.waitObject(t, "full-spool", 30*time.Second)
		// Kept and lost add up to what the task wrote, and markers in the
		// log stand where output is missing.
		lost, _ := strconv.Atoi(meta["brisk-lost-bytes"])
		markers := regexp.MustCompile(`\[brisk: \d+ bytes of output lost here: the spool could not take them: [^]]+\]`).FindAll(streams[spool.Stderr], -1)
		// A marker closes the line open where output was lost: the
		// decoded stdout then holds one newline the task did not write
		// for each marker that fell mid-line (CI saw 212001 of 212000).
		sum := len(streams[spool.Stdout]) + lost
		if meta["brisk-complete"] != "false" || lost == 0 || sum < len(want) || sum > len(want)+len(markers) || len(markers) == 0 {
			t.Errorf("log shipped from a full spool: %d bytes kept, metadata %v, stderr %q", len(streams[spool.Stdout]), meta, streams[spool.Stderr])
		}
	})
}

// shimPid finds the shim serving container id.
func shimPid(t *testing.T, env *harness.Env, id string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if !strings.HasSuffix(args[0], "containerd-shim-brisk-v2") || !strings.Contains(string(cmdline), env.Dir) {
			continue
		}
		for i, a := range args {
			if a == "-id" && i+1 < len(args) && args[i+1] == id {
				var pid int
				fmt.Sscan(e.Name(), &pid)
				return pid
			}
		}
	}
	t.Fatalf("no shim found for %s", id)
	return 0
}

func tail(b []byte) []byte {
	if len(b) > 200 {
		return b[len(b)-200:]
	}
	return b
}
