package integration

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// TestMaxBytesBoundsTheSpool runs tasks writing each shape of output that
// record prefixes made expensive, through the real shim with max_bytes =
// 1Mi, watches the spool while they run, and checks the object: the spool
// and the object stay within max_bytes and a small constant, and the
// newest output is kept.
func TestMaxBytesBoundsTheSpool(t *testing.T) {
	const maxBytes, slack = 1 << 20, 16 << 10
	s := newShimStack(t, config.CompressionNone)
	orig, err := os.ReadFile(s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	small := strings.Replace(string(orig), `max_bytes = "64Mi"`, `max_bytes = "1Mi"`, 1)
	if small == string(orig) {
		t.Fatal("the stack's config has no max_bytes to lower")
	}
	if err := os.WriteFile(s.cfgPath, []byte(small), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, script string
		lastBytes    string // what the output ends with
	}{
		// 41x max_bytes on the spool before.
		{"empty lines", "yes '' | head -c 16000000; echo the-end", "the-end\n"},
		{"one 100 MB line", "head -c 100000000 /dev/zero | tr '\\0' x; printf the-end", "xxthe-end"},
		{"binary", "head -c 16000000 /dev/urandom; printf the-end", "the-end"},
		{"tiny writes", `awk 'BEGIN{for(i=0;i<2000000;i++){printf "x"; fflush()}; printf "the-end"}'`, "xthe-end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "bound-" + strings.ReplaceAll(tc.name, " ", "-")
			var peak atomic.Int64
			stop := make(chan struct{})
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for {
					if n := spool.DiskBytes(s.cfg.SpoolDir); n > peak.Load() {
						peak.Store(n)
					}
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
				}
			}()
			cmd := exec.Command(filepath.Join(s.env.ToolsBin, "ctr"), "--address", s.ctd.Address, "--namespace", s.ctd.Namespace,
				"run", "--rm", "--runtime", runtimeBrisk, s.image, id, "sh", "-c", tc.script)
			cmd.Stdout = io.Discard
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err := cmd.Run()
			body, meta, gerr := s.rawObject(id, 60*time.Second)
			close(stop)
			<-watched
			if err != nil {
				t.Fatalf("ctr run: %v\n%s", err, errb.String())
			}
			if gerr != nil {
				t.Fatal(gerr)
			}
			if p := peak.Load(); p > maxBytes+slack {
				t.Errorf("the spool held %d bytes while the task ran: %.1fx max_bytes", p, float64(p)/maxBytes)
			}
			if len(body) > maxBytes+slack {
				t.Errorf("object of %d bytes: %.1fx max_bytes", len(body), float64(len(body))/maxBytes)
			}
			var out []byte
			if err := spool.Decode(bytes.NewReader(body), func(r spool.Record) error {
				if r.Stream == spool.Stdout {
					out = append(out, r.Bytes()...)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(out, []byte(tc.lastBytes)) {
				t.Errorf("the newest output is lost: stdout ends %q", out[max(0, len(out)-40):])
			}
			written, _ := strconv.ParseInt(meta["brisk-stdout-bytes"], 10, 64)
			truncated, _ := strconv.ParseInt(meta["brisk-truncated-bytes"], 10, 64)
			if truncated == 0 || int64(len(out))+truncated != written {
				t.Errorf("kept %d + truncated %d != %d written", len(out), truncated, written)
			}
		})
	}
}

// rawObject waits for id's object and returns it as stored (compression
// none: the CRI records).
func (s *shimStack) rawObject(id string, timeout time.Duration) ([]byte, map[string]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		key, err := s.latestKey(id)
		var body []byte
		var meta map[string]string
		if err == nil {
			body, meta, err = s.store.Get(context.Background(), key)
		}
		if err == nil || time.Now().After(deadline) {
			return body, meta, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
