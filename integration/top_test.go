package integration

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/doctor"
	"github.com/brisk-containers/brisk/top"
)

// pacedWriter appends RATE bytes a second to /data in 4 KiB blocks. It
// paces itself on /proc/uptime (centiseconds) and catches up after any
// stall, so over a window of seconds it has written RATE × window within a
// block or two, however loaded the machine is. Everything it writes goes
// through the shell's own write calls: no short-lived process (which
// /proc/PID/io would not show) does the writing.
const pacedWriter = `blk=$(head -c 4096 /dev/zero | tr '\0' x)
read up rest < /proc/uptime; t0=${up%%.*}${up#*.}
n=0
while :; do
	read up rest < /proc/uptime; now=${up%%.*}${up#*.}
	due=$(( (now - t0) * %d / 100 / 4096 ))
	while [ $n -lt $due ]; do echo -n "$blk" >> /data; n=$((n+1)); done
	usleep 50000
done`

func TestTop(t *testing.T) {
	s := newNodeStack(t, nil)
	image := s.ctd.ImportImage([]string{"brisk"})
	const fast, slow = 256 << 10, 32 << 10
	for _, c := range []struct {
		id, runtime string
		rate        int
	}{{"fast-writer", runtimeBrisk, fast}, {"slow-writer", runtimeBrisk, slow}, {"idle", "io.containerd.runc.v2", 0}} {
		cmd := "sleep 600"
		if c.rate > 0 {
			cmd = fmt.Sprintf(pacedWriter, c.rate)
		}
		s.ctd.MustCtr("run", "-d", "--snapshotter", "brisk", "--runtime", c.runtime, image, c.id, "sh", "-c", cmd)
	}
	time.Sleep(time.Second) // the writers are past their start

	out, err := s.briskctl(nil, "top", "--address", s.ctd.Address, "--once", "--json", "--interval", "5s")
	if err != nil {
		t.Fatalf("briskctl top: %v\n%s", err, out)
	}
	var f top.Frame
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	text, err := s.briskctl(nil, "top", "--address", s.ctd.Address, "--once", "--interval", "3s")
	if err != nil {
		t.Fatalf("briskctl top: %v", err)
	}
	t.Logf("briskctl top --once --interval 3s:\n%s", text)

	if len(f.Rows) != 3 || f.Rows[0].ID != "fast-writer" || f.Rows[1].ID != "slow-writer" {
		t.Fatalf("want fast-writer, slow-writer, idle in that order:\n%s", out)
	}
	if f.Window < 4.5 {
		t.Fatalf("window %.2fs for --interval 5s", f.Window)
	}
	for i, want := range []float64{fast, slow} {
		r := f.Rows[i]
		if got := r.WriteBps; math.Abs(got-want) > 0.2*want {
			t.Errorf("%s: %.0f B/s written, wrote %.0f B/s (%d bytes over %.2fs)", r.ID, got, want, r.Written, f.Window)
		}
		// One write call per 4 KiB block, give or take the shell's own.
		if calls := want / 4096; math.Abs(r.WriteOps-calls) > 0.2*calls {
			t.Errorf("%s: %.1f write calls/s, want about %.1f", r.ID, r.WriteOps, calls)
		}
		if r.Upper != "tmpfs" || r.InodesLimit <= 0 || r.BytesLimit <= 0 || r.Bytes <= 0 {
			t.Errorf("%s upper: %+v", r.ID, r)
		}
		if r.Spool < 0 || r.Namespace != s.ctd.Namespace || r.Runtime != runtimeBrisk {
			t.Errorf("%s: %+v", r.ID, r)
		}
	}
	if idle := f.Rows[2]; idle.WriteBps > 1024 || idle.Spool != -1 || idle.Procs < 1 {
		t.Errorf("idle: %+v", idle)
	}
	if len(f.Devices) == 0 || f.TmpfsBudget <= 0 || f.TmpfsBudgetUsed <= 0 {
		t.Errorf("header: devices %+v, budget %d used %d", f.Devices, f.TmpfsBudget, f.TmpfsBudgetUsed)
	}

	t.Run("sort by another column", func(t *testing.T) {
		out, err := s.briskctl(nil, "top", "--address", s.ctd.Address, "--once", "--json", "--interval", "1s", "--sort", "id")
		if err != nil {
			t.Fatal(err)
		}
		var f top.Frame
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatal(err)
		}
		if len(f.Rows) != 3 || f.Rows[0].ID != "fast-writer" || f.Rows[1].ID != "idle" {
			t.Fatalf("--sort id: %+v", f.Rows)
		}
		if _, err := s.briskctl(nil, "top", "--address", s.ctd.Address, "--once", "--sort", "nope"); err == nil {
			t.Fatal("--sort nope accepted")
		}
	})

	t.Run("containerd's address from CONTAINERD_ADDRESS, as ctr takes it", func(t *testing.T) {
		env := []string{"CONTAINERD_ADDRESS=" + s.ctd.Address}
		out, err := s.briskctl(env, "top", "--once", "--json", "--interval", "1s")
		if err != nil {
			t.Fatalf("top: %v", err)
		}
		var f top.Frame
		if err := json.Unmarshal([]byte(out), &f); err != nil || len(f.Rows) != 3 {
			t.Fatalf("top with CONTAINERD_ADDRESS: %v %s", err, out)
		}
		out, err = s.briskctl(env, "doctor", "--json", "--no-write", "--sample", "500ms", "--timeout", "20s")
		var r doctor.Report
		if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
			t.Fatalf("doctor: %v %v %s", err, jerr, out)
		}
		if x, ok := finding(r, "containerd/reachable", doctor.Pass); !ok || !strings.Contains(x.Found, s.ctd.Address) {
			t.Fatalf("doctor with CONTAINERD_ADDRESS:\n%s", dump(r))
		}
	})
}
