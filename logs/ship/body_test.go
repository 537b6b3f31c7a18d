package ship

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// TestShipMemoryDoesNotGrowWithLog ships a 64 MiB log and checks that the
// upload allocates a small constant, not the log (and its gzip copy): the
// body streams from the spool file.
func TestShipMemoryDoesNotGrowWithLog(t *testing.T) {
	const logBytes = 64 << 20
	const allowed = 4 << 20 // gzip's state, copy buffers, metadata
	for _, tc := range []struct {
		compression string
		live        bool // the shim died: whole records only
	}{
		{config.CompressionNone, false},
		{config.CompressionGzip, false},
		{config.CompressionGzip, true},
		{config.CompressionNone, true},
	} {
		t.Run(fmt.Sprintf("%s live=%v", tc.compression, tc.live), func(t *testing.T) {
			s, cfg := newLocalShipper(t, tc.compression)
			e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: "big"}, spool.WithMaxBytes(1<<30))
			if err != nil {
				t.Fatal(err)
			}
			chunk := bytes.Repeat([]byte("a line of a big build log, one of very many\n"), 64<<10/45)
			var last string
			for n := 0; n < logBytes; n += len(chunk) {
				last = fmt.Sprintf("stdout F line %d\n", n)
				if err := e.Write(spool.Stdout, fmt.Appendf(chunk[:len(chunk):len(chunk)], "line %d\n", n)); err != nil {
					t.Fatal(err)
				}
			}
			if !tc.live {
				if _, err := e.Finish(spool.ExitInfo{Exited: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			if err := s.Ship(context.Background(), e.Claim()); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			e.Release()
			if n := after.TotalAlloc - before.TotalAlloc; n > allowed {
				t.Errorf("shipping a %d MiB log allocated %d MiB", logBytes>>20, n>>20)
			}
			if _, err := os.Stat(e.Dir()); !os.IsNotExist(err) {
				t.Errorf("entry left after shipping: %v", err)
			}
			got, _, err := s.Store().Get(context.Background(), s.KeyFor("ns", "big", e.Meta().Run))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(got, []byte(last)) {
				t.Errorf("stored log ends %q", got[len(got)-100:])
			}
		})
	}
}
