package layercopy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// BenchmarkCopy10kSmallFiles copies a tmpfs upper of 10,000 files of 1 KiB
// in 100 directories, as Commit does: to disk, and to a tmpfs, where what is
// left is the copy's own cost.
func BenchmarkCopy10kSmallFiles(b *testing.B) {
	testutil.RequireRoot(b)
	src := tmpfs(b)
	data := make([]byte, 1024)
	for d := range 100 {
		dir := filepath.Join(src, fmt.Sprint("d", d))
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", f)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, to := range []struct {
		name string
		dir  func(testing.TB) string
	}{
		{"to-disk", func(b testing.TB) string { return b.TempDir() }},
		{"to-tmpfs", tmpfs},
	} {
		b.Run(to.name, func(b *testing.B) {
			out := to.dir(b)
			// CPU time as well as wall time: on a shared machine the wall
			// time says more about the neighbours than about the copy.
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dst := filepath.Join(out, fmt.Sprint("layer", i))
				start := cpuTime()
				if err := Copy(context.Background(), dst, src); err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - start
				b.StopTimer()
				if err := os.RemoveAll(dst); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the user and system time of the process so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
