package spool_test

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/spool/spooltest"
)

// TestCutsStayValidCRIWhateverTheChunking runs the 2,000 lines of
// 67 bytes past max_bytes = 6000 in 400 random chunkings, as a task's
// writes reach the shim (awk's come a few bytes at a time). CI once found a
// chunking the fixed ones miss: the head ended a line with its own newline,
// an empty full record right before the note, which the checker took for a
// line closed at the cut and so counted one byte more missing than the note.
func TestCutsStayValidCRIWhateverTheChunking(t *testing.T) {
	lines67 := counter(2000*67, 66, 0)
	for seed := uint64(0); seed < 400; seed++ {
		r := rand.New(rand.NewPCG(seed, 9))
		var writes []write
		for p := lines67; len(p) > 0; {
			n := min(len(p), 1+r.IntN(200))
			writes = append(writes, write{spool.Stdout, p[:n]})
			p = p[n:]
		}
		e, err := spool.Open(t.TempDir(), spool.Meta{Namespace: "ns", ID: "id"}, spool.WithMaxBytes(6000), spool.WithClock(clock(false)))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range writes {
			if err := e.Write(w.stream, w.p); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.Finish(spool.ExitInfo{}); err != nil {
			t.Fatal(err)
		}
		e.Release()
		log, err := os.ReadFile(spool.LogPath(e.Dir()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := spooltest.Check(log, map[spool.Stream][]byte{spool.Stdout: lines67}); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}
