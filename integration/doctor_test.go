package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/doctor"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/internal/testutil"
)

// nodeStack is a node set up as docs/playbook.md says: brisk-snapshotter
// registered in containerd, the brisk shim on containerd's PATH, one config
// file for both, the spool on tmpfs, a bucket with a 1-day expiry, and S3
// credentials only in containerd's environment, as on a node with
// /etc/brisk/s3.env.
type nodeStack struct {
	env   *harness.Env
	sn    *harness.Snapshotter
	ctd   *harness.Containerd
	minio *harness.MinIO
	logd  *harness.Logd
	// toml is the healthy config; cfgPath holds it.
	toml    string
	cfgPath string
}

func newNodeStack(t *testing.T, optsFor func(*harness.Env) []harness.ContainerdOpt) *nodeStack {
	env := harness.New(t)
	env.Require(filepath.Join(env.BriskBin, "containerd-shim-brisk-v2"))
	s := &nodeStack{env: env, minio: env.StartMinIO()}
	spoolDir := env.Path("spool")
	if err := os.Mkdir(spoolDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", spoolDir, "tmpfs", 0, "size=64m"); err != nil {
		t.Fatalf("mount tmpfs on the spool: %v", err)
	}
	s.sn = env.StartSnapshotter(fmt.Sprintf(`[logs]
spool_dir = %q
local_dir = %q
upload_timeout = "3s"
[logs.s3]
bucket = %q
endpoint = %q
path_style = true
region = %q
[logs.api]
socket = %q
`, spoolDir, env.Path("logs"), bucket, s.minio.Endpoint, s.minio.Region, env.Path("logd.sock")))
	s.cfgPath = s.sn.ConfigPath
	b, err := os.ReadFile(s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	s.toml = string(b)
	// The node's log daemon, on the shims' spool and socket, with MinIO's
	// credentials (the test process holds none).
	s.logd = env.StartLogdEnv("node", s.toml, nil, s.minio.Env())
	if out, err := s.briskctl(s.minio.Env(), "bucket", "init"); err != nil {
		t.Fatalf("bucket init: %v %s", err, out)
	}
	var opts []harness.ContainerdOpt
	if optsFor != nil {
		opts = optsFor(env)
	}
	opts = append(opts, s.sn.ProxyConfig(), harness.WithEnv(append(s.minio.Env(), config.EnvPath+"="+s.cfgPath)...))
	s.ctd = env.StartContainerd(opts...)
	return s
}

// briskctl runs briskctl with the stack's config and extra environment
// (none: the test process holds no S3 credentials).
func (s *nodeStack) briskctl(extraEnv []string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(s.env.BriskBin, "briskctl"), append([]string{"--config", s.cfgPath}, args...)...)
	cmd.Env = append(append(os.Environ(), "PATH="+s.env.PATH()), extraEnv...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out.String(), err
}

// doctor runs briskctl doctor on cfg (a TOML text; "" for the healthy one)
// against containerd at address and returns its findings and exit status.
func (s *nodeStack) doctor(t *testing.T, address, cfg string, args ...string) (doctor.Report, int) {
	t.Helper()
	path := s.cfgPath
	if cfg != "" {
		f, err := os.CreateTemp(s.env.Dir, "doctor-*.toml")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(cfg)
		f.Close()
		path = f.Name()
	}
	cmd := exec.Command(filepath.Join(s.env.BriskBin, "briskctl"), append([]string{"--config", path, "doctor", "--address", address, "--json", "--sample", "500ms", "--timeout", "20s", "--kubelet-config", s.env.Path("no-kubelet.yaml")}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+s.env.PATH())
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var r doctor.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, out.String(), stderr.String())
	}
	return r, code
}

// finding returns the first finding of check (or of check/...) with status st.
func finding(r doctor.Report, check string, st doctor.Status) (doctor.Result, bool) {
	for _, x := range r.Results {
		if (x.Check == check || strings.HasPrefix(x.Check, check+"/")) && x.Status == st {
			return x, true
		}
	}
	return doctor.Result{}, false
}

func requireFinding(t *testing.T, r doctor.Report, check string, st doctor.Status, fixHas string) doctor.Result {
	t.Helper()
	x, ok := finding(r, check, st)
	if !ok {
		t.Fatalf("no %s for %s in:\n%s", st, check, dump(r))
	}
	if !strings.Contains(x.Fix, fixHas) {
		t.Fatalf("%s %s: fix %q does not say %q", st, check, x.Fix, fixHas)
	}
	t.Logf("%s  %s  %s\n  fix: %s", x.Status, x.Check, x.Found, x.Fix)
	return x
}

func dump(r doctor.Report) string {
	var b strings.Builder
	for _, x := range r.Results {
		fmt.Fprintf(&b, "%s %s: %s | %s\n", x.Status, x.Check, x.Found, x.Fix)
	}
	return b.String()
}

func TestDoctor(t *testing.T) {
	s := newNodeStack(t, func(env *harness.Env) []harness.ContainerdOpt {
		return []harness.ContainerdOpt{harness.WithCRI(), harness.WithConfig(criRuntime(t, filepath.Join(env.ToolsBin, "runc")))}
	})

	t.Run("healthy node: no FAIL, exit 0", func(t *testing.T) {
		r, code := s.doctor(t, s.ctd.Address, "")
		if code != 0 || r.Failed() {
			t.Fatalf("exit %d on a healthy node:\n%s", code, dump(r))
		}
		for _, check := range []string{"config/valid", "containerd/reachable", "containerd/snapshotter", "snapshotter/usage", "containerd/runtime", "shim/version", "cri/pod_annotations", "spool/tmpfs", "spool/pending", "s3/bucket", "s3/lifecycle", "s3/write", "logd/running"} {
			if _, ok := finding(r, check, doctor.Pass); !ok {
				t.Errorf("%s did not pass:\n%s", check, dump(r))
			}
		}
		// briskctl holds no credentials here: doctor used containerd's
		// environment.
		if x, _ := finding(r, "s3/bucket", doctor.Pass); !strings.Contains(x.Found, "containerd's environment") {
			t.Errorf("s3/bucket: %q", x.Found)
		}
		// A device sampled (PASS, or WARN on a busy machine), or a root on
		// no block device (INFO, e.g. inside a container).
		_, sampled := finding(r, "disk", doctor.Pass)
		_, busy := finding(r, "disk", doctor.Warn)
		_, none := finding(r, "disk", doctor.Info)
		if !sampled && !busy && !none {
			t.Errorf("no disk finding:\n%s", dump(r))
		}
		text, err := s.briskctl(nil, "doctor", "--address", s.ctd.Address, "--sample", "1s", "--timeout", "20s", "--kubelet-config", s.env.Path("no-kubelet.yaml"))
		if err != nil {
			t.Fatalf("text doctor: %v\n%s", err, text)
		}
		t.Logf("briskctl doctor on the healthy stack:\n%s", text)
	})

	t.Run("after tasks ship: what their S3 requests cost", func(t *testing.T) {
		image := s.ctd.ImportImage([]string{"brisk"})
		before, err := shipHealth(s.logd.Socket)
		if err != nil {
			t.Fatal(err)
		}
		const tasks = 4
		for i := range tasks {
			s.ctd.MustCtr("run", "--rm", "--snapshotter", "brisk", "--runtime", runtimeBrisk, image, fmt.Sprintf("cost-%d", i), "sh", "-c", "echo hello")
		}
		if !harness.WaitFor(20*time.Second, func() bool {
			h, err := shipHealth(s.logd.Socket)
			return err == nil && h.Shipped >= before.Shipped+tasks
		}) {
			t.Fatalf("brisk-logd did not ship the %d tasks' logs:\n%s", tasks, s.logd.Proc.LogTail())
		}
		r, _ := s.doctor(t, s.ctd.Address, "")
		x, ok := finding(r, "logd/cost", doctor.Info)
		if !ok {
			t.Fatalf("no cost line:\n%s", dump(r))
		}
		// Per-task upload: one PutObject per task, and whatever else
		// brisk-logd asked the store since it started.
		m := regexp.MustCompile(`^([0-9.]+) S3 requests per task (?:over the last hour|since brisk-logd started [a-z0-9 ]+ ago) \(([0-9,]+) requests?, ([0-9,]+) tasks\); about \$([0-9.]+)/day at this rate \(list prices\)$`).FindStringSubmatch(x.Found)
		if m == nil {
			t.Fatalf("logd/cost: %q", x.Found)
		}
		perTask, _ := strconv.ParseFloat(m[1], 64)
		shipped, _ := strconv.Atoi(strings.ReplaceAll(m[3], ",", ""))
		if perTask <= 0 || perTask > 3 || shipped < tasks {
			t.Errorf("logd/cost: %.3f requests per task for %d tasks, want (0, 3] for at least %d: %q", perTask, shipped, tasks, x.Found)
		}
		text, err := s.briskctl(nil, "doctor", "--address", s.ctd.Address, "--sample", "500ms", "--timeout", "20s", "--kubelet-config", s.env.Path("no-kubelet.yaml"))
		if err != nil {
			t.Fatalf("text doctor: %v\n%s", err, text)
		}
		line := ""
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, "logd/cost") {
				line = l
			}
		}
		if !strings.HasPrefix(line, "INFO") || !strings.Contains(line, "S3 requests per task") {
			t.Fatalf("briskctl doctor prints no cost line:\n%s", text)
		}
		t.Logf("%s", line)
	})

	t.Run("brisk not registered in containerd", func(t *testing.T) {
		bare := harness.New(t).StartContainerd() // no [proxy_plugins.brisk]
		r, code := s.doctor(t, bare.Address, "")
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		requireFinding(t, r, "containerd/snapshotter", doctor.Fail, "[proxy_plugins.brisk]")
	})

	t.Run("profiles: registered in containerd, each upper_dir checked", func(t *testing.T) {
		mnt := testutil.MountXFS(t, t.TempDir(), 512<<20, "relatime")
		cfg := s.toml + fmt.Sprintf("\n[snapshotter.profiles.brisk-small]\ntmpfs_size = \"32Mi\"\n[snapshotter.profiles.brisk-large]\nupper = \"dir\"\nupper_dir = %q\n", mnt)
		r, code := s.doctor(t, s.ctd.Address, cfg)
		if code != 1 {
			t.Fatalf("exit %d", code)
		}
		x := requireFinding(t, r, "containerd/profile", doctor.Fail, "[proxy_plugins.brisk-large]")
		if !strings.Contains(x.Found, "brisk-large") {
			t.Errorf("containerd/profile: %q", x.Found)
		}
		x = requireFinding(t, r, "upper/mount", doctor.Fail, "noatime")
		if !strings.Contains(x.Found, "profile brisk-large") || !strings.Contains(x.Found, mnt) {
			t.Errorf("upper/mount does not name the profile's upper_dir: %q", x.Found)
		}

		// Both profiles registered on Brisk's socket, as the installer's drop-in does.
		ctd := harness.New(t).StartContainerd(s.sn.ProxyConfig(),
			harness.WithProxySnapshotter("brisk-small", s.sn.Address, s.sn.Root),
			harness.WithProxySnapshotter("brisk-large", s.sn.Address, s.sn.Root))
		r, _ = s.doctor(t, ctd.Address, cfg)
		for _, name := range []string{"brisk-small", "brisk-large"} {
			found := false
			for _, x := range r.Results {
				found = found || (x.Check == "containerd/profile" && x.Status == doctor.Pass && strings.Contains(x.Found, `"`+name+`"`))
			}
			if !found {
				t.Errorf("profile %s registered, not reported as such:\n%s", name, dump(r))
			}
		}
		if x, ok := finding(r, "containerd/snapshotter", doctor.Pass); !ok || !strings.Contains(x.Found, "brisk-large, brisk-small") {
			t.Errorf("containerd/snapshotter does not list the profiles on its socket:\n%s", dump(r))
		}
	})

	t.Run("upper_dir without noatime", func(t *testing.T) {
		mnt := testutil.MountXFS(t, t.TempDir(), 512<<20, "relatime")
		cfg := strings.Replace(s.toml, "[snapshotter]\n", fmt.Sprintf("[snapshotter]\nupper = \"dir\"\nupper_dir = %q\n", mnt), 1)
		r, _ := s.doctor(t, s.ctd.Address, cfg)
		// brisk-snapshotter refuses such an upper_dir: doctor gives its error.
		x := requireFinding(t, r, "upper/mount", doctor.Fail, "noatime")
		if !strings.Contains(x.Found, "atime updates") {
			t.Errorf("upper/mount: %q", x.Found)
		}
		// Without prjquota (or a kernel with XFS quotas) limits are not enforced.
		requireFinding(t, r, "upper/quota", doctor.Warn, "")

		t.Run("and the spool on that disk", func(t *testing.T) {
			spool := filepath.Join(mnt, "spool")
			cfg := strings.Replace(s.toml, fmt.Sprintf("spool_dir = %q", s.env.Path("spool")), fmt.Sprintf("spool_dir = %q", spool), 1)
			r, _ := s.doctor(t, s.ctd.Address, cfg)
			x := requireFinding(t, r, "spool/tmpfs", doctor.Warn, "tmpfs")
			if !strings.Contains(x.Found, "xfs") {
				t.Errorf("spool/tmpfs does not name the disk: %q", x.Found)
			}
		})
	})

	t.Run("ext4 upper_dir: data mode and journal reported", func(t *testing.T) {
		mkfs, err := exec.LookPath("mkfs.ext4")
		if err != nil {
			t.Fatal("mkfs.ext4 not found: run `make tools` (installs e2fsprogs)")
		}
		img, mnt := s.env.Path("ext4.img"), s.env.Path("ext4")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 64<<20); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(mkfs, "-q", "-F", img).CombinedOutput(); err != nil {
			t.Fatalf("mkfs.ext4: %v %s", err, out)
		}
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-o", "loop,noatime,data=writeback", img, mnt).CombinedOutput(); err != nil {
			t.Fatalf("mount ext4: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("umount", "-d", mnt).Run() })
		cfg := strings.Replace(s.toml, "[snapshotter]\n", fmt.Sprintf("[snapshotter]\nupper = \"dir\"\nupper_dir = %q\n", mnt), 1)
		r, _ := s.doctor(t, s.ctd.Address, cfg)
		if _, ok := finding(r, "upper/mount", doctor.Pass); !ok {
			t.Errorf("a noatime mount of its own:\n%s", dump(r))
		}
		x := requireFinding(t, r, "upper/ext4", doctor.Info, "crash")
		if !strings.Contains(x.Found, "data=writeback") || !strings.Contains(x.Found, "journal on") {
			t.Errorf("upper/ext4: %q", x.Found)
		}
		requireFinding(t, r, "upper/quota", doctor.Warn, "XFS")
		if x, ok := finding(r, "upper/headroom", doctor.Pass); !ok || !strings.Contains(x.Found, "upper_dir") {
			t.Errorf("headroom of upper_dir:\n%s", dump(r))
		}
	})

	t.Run("tmpfs budget against the kubelet's reservations", func(t *testing.T) {
		kubelet := s.env.Path("kubelet.yaml")
		// Half of RAM for the budget (the default), 60% kept from pods.
		if err := os.WriteFile(kubelet, []byte("kind: KubeletConfiguration\nsystemReserved:\n  memory: 1Gi\nevictionHard:\n  memory.available: \"60%\"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, _ := s.doctor(t, s.ctd.Address, "", "--kubelet-config", kubelet)
		x := requireFinding(t, r, "tmpfs/budget", doctor.Warn, "allocatable")
		if !strings.Contains(x.Found, kubelet) {
			t.Errorf("tmpfs/budget: %q", x.Found)
		}
	})

	t.Run("bucket without a lifecycle rule", func(t *testing.T) {
		for _, kv := range s.minio.Env() {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		st, err := store.ConnectS3(context.Background(), config.S3{Region: s.minio.Region, Endpoint: s.minio.Endpoint, PathStyle: true, Bucket: "no-expiry"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("no-expiry")}); err != nil {
			t.Fatal(err)
		}
		cfg := strings.Replace(s.toml, fmt.Sprintf("bucket = %q", bucket), `bucket = "no-expiry"`, 1)
		r, _ := s.doctor(t, s.ctd.Address, cfg)
		requireFinding(t, r, "s3/lifecycle", doctor.Warn, "briskctl bucket init")
		if _, ok := finding(r, "s3/write", doctor.Pass); !ok {
			t.Errorf("test write to no-expiry:\n%s", dump(r))
		}
	})

	t.Run("a bad config key", func(t *testing.T) {
		cfg := strings.Replace(s.toml, "[snapshotter]\n", "[snapshotter]\ntmpfs_sise = \"1Gi\"\n", 1)
		r, code := s.doctor(t, s.ctd.Address, cfg)
		x := requireFinding(t, r, "config/valid", doctor.Fail, "refuse to start")
		if code != 1 || !strings.Contains(x.Found, "unknown key snapshotter.tmpfs_sise") {
			t.Fatalf("exit %d, found %q", code, x.Found)
		}
		// The containerd checks do not need Brisk's config and still run.
		if _, ok := finding(r, "containerd/reachable", doctor.Pass); !ok {
			t.Errorf("containerd/reachable:\n%s", dump(r))
		}
	})

	t.Run("S3 down", func(t *testing.T) {
		s.minio.Stop()
		defer s.minio.Start()
		r, code := s.doctor(t, s.ctd.Address, "")
		x := requireFinding(t, r, "s3/bucket", doctor.Fail, "endpoint")
		if code != 1 || !strings.Contains(x.Found, "unreachable") {
			t.Fatalf("exit %d, %q", code, x.Found)
		}
	})
}
