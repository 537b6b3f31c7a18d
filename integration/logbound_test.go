package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/spool/spooltest"
)

// TestMaxBytesBoundsTheSpool runs tasks writing each shape of output that
// record prefixes made expensive, through the real shim with max_bytes =
// 1Mi, watches the spool while they run, and checks the object: the spool
// and the object stay within max_bytes and a small constant, and the
// newest output is kept. Then tasks whose output no run of repeats check
// that the object cut by max_bytes is valid CRI, read as a CRI reader and
// as briskctl logs read it (see cutsStayValidCRI).
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
			// Read as a CRI reader does, without the line breaks that
			// close a line at a cut.
			cuts, err := spooltest.Read(body)
			if err != nil {
				t.Errorf("the object is not valid CRI: %v", err)
			}
			out := cuts.Kept[spool.Stdout]
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
	cutsStayValidCRI(t, s)
}

// counterAWK writes n six-digit numbers from 0 to stdout, a newline after
// every per of them; with errEvery, every errEvery-th number also writes the
// next number from 500000 to stderr, a newline after every errPer of those.
// Both streams are flushed every 500 numbers: partial lines interleave.
const counterAWK = `BEGIN{for(k=0;k<n;k++){printf "%06d",k; if((k+1)%per==0) printf "\n";
if(errEvery>0 && k%errEvery==0){printf "%06d",500000+j > "/dev/stderr"; j++; if(j%errPer==0) printf "\n" > "/dev/stderr"}
if(k%500==0){fflush(); fflush("/dev/stderr")}}}`

// counterOutput is what counterAWK writes.
func counterOutput(n, per, errEvery, errPer int) map[spool.Stream][]byte {
	out := map[spool.Stream][]byte{}
	j := 0
	for k := range n {
		out[spool.Stdout] = fmt.Appendf(out[spool.Stdout], "%06d", k)
		if (k+1)%per == 0 {
			out[spool.Stdout] = append(out[spool.Stdout], '\n')
		}
		if errEvery > 0 && k%errEvery == 0 {
			out[spool.Stderr] = fmt.Appendf(out[spool.Stderr], "%06d", 500000+j)
			if j++; j%errPer == 0 {
				out[spool.Stderr] = append(out[spool.Stderr], '\n')
			}
		}
	}
	return out
}

// cutsStayValidCRI runs tasks past max_bytes whose output no run of
// repeats, and checks the object as a CRI reader reads it: every line a
// record, times never going back, no line joined across a cut, every cut
// marked where it is with its count (spooltest.Check); and briskctl logs
// shows the object's records, every line of it one of the task's or a
// part of one where a cut is.
func cutsStayValidCRI(t *testing.T, s *shimStack) {
	orig, err := os.ReadFile(s.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(s.cfgPath, orig, 0o644)
	for _, tc := range []struct {
		name                     string
		maxBytes                 string
		n, per, errEvery, errPer int
		viaFile                  bool // the output is written to a file, then cat'ed
		lineCuts                 bool // lines cut inside the tail, each marked
	}{
		// The example: 2,000 lines of 67 bytes, the head
		// ending inside one.
		{name: "2000 lines of 67 bytes", maxBytes: "6000", n: 22000, per: 11},
		{name: "lines of 67 bytes", maxBytes: "1Mi", n: 440000, per: 11},
		// Lines of 30 KB, cat'ed: each read of them is a record longer
		// than the tail's share, a sixth of max_bytes. (awk's own
		// writes may reach the shim a few bytes at a time.)
		{name: "lines longer than a sixth of max_bytes", maxBytes: "6000", n: 100000, per: 5000, viaFile: true, lineCuts: true},
		// busybox awk flushes stdout before each write to stderr: the
		// records are a few bytes, partial lines on both streams.
		{name: "both streams interleaved, partial lines", maxBytes: "6000", n: 100000, per: 5000, errEvery: 3, errPer: 15},
	} {
		t.Run("valid CRI: "+tc.name, func(t *testing.T) {
			cfg := regexp.MustCompile(`(?m)^max_bytes = .*$`).ReplaceAll(orig, []byte(`max_bytes = "`+tc.maxBytes+`"`))
			if err := os.WriteFile(s.cfgPath, cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			id := "cri-" + strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			written := counterOutput(tc.n, tc.per, tc.errEvery, tc.errPer)
			awk := []string{"awk"}
			for _, v := range []struct {
				name  string
				value int
			}{{"n", tc.n}, {"per", tc.per}, {"errEvery", tc.errEvery}, {"errPer", tc.errPer}} {
				awk = append(awk, "-v", fmt.Sprintf("%s=%d", v.name, v.value))
			}
			awk = append(awk, counterAWK)
			if tc.viaFile {
				awk = []string{"sh", "-c", strings.Join(awk[:len(awk)-1], " ") + " '" + counterAWK + "' >/tmp/out && cat /tmp/out"}
			}
			args := append([]string{"--address", s.ctd.Address, "--namespace", s.ctd.Namespace, "run", "--rm", "--runtime", runtimeBrisk, s.image, id}, awk...)
			cmd := exec.Command(filepath.Join(s.env.ToolsBin, "ctr"), args...)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("ctr run: %v\n%s", err, errb.String())
			}
			// The task's output, whole, is what ctr printed (after ctr's
			// own warnings on stderr).
			if !bytes.Equal(out.Bytes(), written[spool.Stdout]) || !bytes.HasSuffix(errb.Bytes(), written[spool.Stderr]) {
				t.Fatalf("the task wrote %d+%d bytes, not the %d+%d expected: stderr starts %q", out.Len(), errb.Len(), len(written[spool.Stdout]), len(written[spool.Stderr]), errb.Bytes()[:min(300, errb.Len())])
			}
			body, meta, err := s.rawObject(id, 60*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			cuts, err := spooltest.Check(body, written)
			if err != nil {
				t.Errorf("the object is not valid CRI: %v", err)
			}
			if truncated, _ := strconv.ParseInt(meta["brisk-truncated-bytes"], 10, 64); cuts.Notes == 0 || cuts.Dropped != truncated {
				t.Errorf("the notes count %d bytes dropped in %d notes; metadata %d", cuts.Dropped, cuts.Notes, truncated)
			}
			if tc.lineCuts && cuts.Notes < 2 {
				t.Errorf("%d notes: no line cut inside the tail, which this case is for", cuts.Notes)
			}
			shown := map[spool.Stream][]byte{}
			if err := spool.Decode(bytes.NewReader(body), func(r spool.Record) error {
				shown[r.Stream] = append(shown[r.Stream], r.Bytes()...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, err := s.briskctl("logs", "-n", s.ctd.Namespace, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range []struct {
				stream spool.Stream
				got    string
			}{{spool.Stdout, stdout}, {spool.Stderr, stderr}} {
				if st.got != string(shown[st.stream]) {
					t.Errorf("briskctl logs %s: %d bytes, not the object's %d", st.stream, len(st.got), len(shown[st.stream]))
				}
				at := 0 // lines are found in order
				for i, line := range strings.Split(st.got, "\n") {
					if strings.HasPrefix(line, "[brisk: ") {
						continue
					}
					j := bytes.Index(written[st.stream][at:], []byte(line))
					if j < 0 {
						t.Errorf("briskctl logs %s, line %d: %q is no line of the task's, nor a part of one: two lines joined", st.stream, i+1, abbrev(line))
						break
					}
					at += j + len(line)
				}
			}
		})
	}
}

func abbrev(s string) string {
	if len(s) > 80 {
		return s[:40] + "..." + s[len(s)-37:]
	}
	return s
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
