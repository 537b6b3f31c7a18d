package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/integration/harness"
	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// A per-minute CronJob with a fixed task ID keeps about 1,440 runs under
// the 1-day rule; S3 lists 1,000 keys a request, oldest first. briskctl
// logs still shows the latest run, and --run and --all-runs reach every
// run, against real MinIO. The runs are stored directly, as shims of many
// nodes would have.
func TestBriskctlLogsPastAThousandRuns(t *testing.T) {
	const runs = 1500
	env := harness.New(t)
	m := env.StartMinIO()
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfgPath := env.Path("brisk.toml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`[logs]
spool_dir = %q
[logs.s3]
bucket = %q
endpoint = %q
path_style = true
region = %q
`, env.Path("spool"), bucket, m.Endpoint, m.Region)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, false)
	if err != nil {
		t.Fatal(err)
	}
	store, err := store.ConnectS3(context.Background(), cfg.Logs.S3)
	if err != nil {
		t.Fatal(err)
	}
	client := store.Client()
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	shipper, err := ship.New(context.Background(), cfg.Logs, ship.WithStore(store))
	if err != nil {
		t.Fatal(err)
	}

	// Run i (1 the oldest) started i minutes before the latest, which
	// started a minute ago.
	now := time.Now()
	var wg sync.WaitGroup
	keys := make(chan int)
	errs := make(chan error, runs)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				started := now.Add(-time.Duration(runs+1-i) * time.Minute)
				run := spool.NewRun(started, fmt.Sprintf("%08x", i))
				body := fmt.Sprintf("%s stdout F run-%d\n", started.UTC().Format(time.RFC3339Nano), i)
				_, err := client.PutObject(context.Background(), &s3.PutObjectInput{
					Bucket: aws.String(bucket), Key: aws.String(shipper.KeyFor("default", "cron", run)),
					Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 1; i <= runs; i++ {
		keys <- i
	}
	close(keys)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	briskctl := func(args ...string) (string, string, error) {
		return env.Run(append([]string{filepath.Join(env.BriskBin, "briskctl"), "--config", cfgPath, "logs", "-n", "default"}, args...)...)
	}
	out, stderr, err := briskctl("cron")
	if err != nil || out != fmt.Sprintf("run-%d\n", runs) {
		t.Errorf("logs cron: %v, stdout %q; want the latest run, run-%d", err, out, runs)
	}
	t.Logf("briskctl logs cron says on stderr: %s", stderr)
	if out, _, err := briskctl("--run", fmt.Sprint(runs), "cron"); err != nil || out != fmt.Sprintf("run-%d\n", runs) {
		t.Errorf("logs --run %d cron: %v %q", runs, err, out)
	}
	if out, _, err := briskctl("--run", "1", "cron"); err != nil || out != "run-1\n" {
		t.Errorf("logs --run 1 cron: %v %q", err, out)
	}
	if _, stderr, err := briskctl("--run", fmt.Sprint(runs+1), "cron"); err == nil || !strings.Contains(stderr, fmt.Sprintf("has %d runs", runs)) {
		t.Errorf("logs --run %d cron: %v %q", runs+1, err, stderr)
	}
	out, stderr, err = briskctl("--all-runs", "cron")
	var want bytes.Buffer
	for i := 1; i <= runs; i++ {
		fmt.Fprintf(&want, "run-%d\n", i)
	}
	if err != nil || out != want.String() {
		t.Errorf("logs --all-runs cron: %v, %d lines, want %d; it ends %q", err, strings.Count(out, "\n"), runs, out[max(0, len(out)-40):])
	}
	if n := len(regexp.MustCompile(`(?m)^==> run \d+ of 1500: `).FindAllString(stderr, -1)); n != runs {
		t.Errorf("logs --all-runs cron: %d run headers, want %d", n, runs)
	}
}
