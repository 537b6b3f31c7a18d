package layercopy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/brisk-containers/brisk/internal/testutil"
)

// BenchmarkCopy10kSmallFiles copies a tmpfs upper of 10,000 files of 1 KiB
// in 100 directories to disk, as Commit does.
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
	out := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst := filepath.Join(out, fmt.Sprint("layer", i))
		if err := Copy(context.Background(), dst, src); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := os.RemoveAll(dst); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
