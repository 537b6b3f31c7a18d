package harness

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// MinIO is a real S3 server on loopback.
type MinIO struct {
	env       *Env
	Proc      *Process
	Endpoint  string
	AccessKey string
	SecretKey string
	Region    string
	dataDir   string
}

// StartMinIO starts MinIO on free loopback ports with a data directory under
// the private directory and waits until it is live.
func (e *Env) StartMinIO() *MinIO {
	e.T.Helper()
	bin := filepath.Join(e.ToolsBin, "minio")
	e.require(bin, "run `make tools` (builds MinIO)")
	m := &MinIO{env: e, AccessKey: "briskaccess", SecretKey: "brisksecret123", Region: "us-east-1", dataDir: e.Path("minio-data")}
	port, console := FreePort(e.T), FreePort(e.T)
	m.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := os.MkdirAll(m.dataDir, 0o755); err != nil {
		e.T.Fatal(err)
	}
	// Its metrics are public: tests count the requests it answers
	// (S3Requests).
	m.Proc = e.Start("minio", []string{"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey, "MINIO_BROWSER=off", "MINIO_PROMETHEUS_AUTH_TYPE=public"},
		bin, "server", m.dataDir, "--address", fmt.Sprintf("127.0.0.1:%d", port), "--console-address", fmt.Sprintf("127.0.0.1:%d", console), "--quiet")
	m.WaitLive()
	return m
}

// WaitLive waits until MinIO serves S3 requests: its readiness endpoint
// says so, and an S3 request (an unsigned listing, refused) is not answered
// 503 XMinioServerNotInitialized, which CI saw a CreateBucket get after the
// liveness endpoint answered.
func (m *MinIO) WaitLive() {
	m.env.T.Helper()
	status := func(path string) int {
		resp, err := http.Get(m.Endpoint + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ok := WaitFor(60*time.Second, func() bool {
		if status("/minio/health/ready") != http.StatusOK {
			return false
		}
		s := status("/")
		return s != 0 && s != http.StatusServiceUnavailable
	})
	if !ok {
		m.env.T.Fatalf("minio not live:\n%s", m.Proc.LogTail())
	}
}

// Stop stops the server (the data stays).
func (m *MinIO) Stop() { _ = m.Proc.Stop(10 * time.Second) }

// Start starts it again on the same address and data.
func (m *MinIO) Start() {
	m.env.Restart(m.Proc)
	m.WaitLive()
}

// Env is the environment a client needs: aws-sdk-go-v2's default chain reads
// these, so credentials never appear in Brisk's configuration.
func (m *MinIO) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + m.AccessKey, "AWS_SECRET_ACCESS_KEY=" + m.SecretKey, "AWS_REGION=" + m.Region}
}
