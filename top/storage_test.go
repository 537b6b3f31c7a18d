package top

import (
	"fmt"
	"testing"

	"github.com/brisk-containers/brisk/config"
)

// The header's devices include those behind a profile's own upper_dir: a
// profile on its own NVMe is where its containers' writes go.
func TestStoragePathsCoverProfiles(t *testing.T) {
	cfg, err := config.Parse([]byte(`[snapshotter]
root = "/var/lib/brisk"
upper_dir = "/mnt/fast"
[snapshotter.profiles.big]
upper = "dir"
upper_dir = "/mnt/big"
[snapshotter.profiles.same]
upper = "dir"
`))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(storagePaths(cfg.Snapshotter))
	want := "[{upper_dir /mnt/fast} {upper_dir of big /mnt/big} {snapshotter root /var/lib/brisk}]"
	if got != want {
		t.Fatalf("storagePaths = %s, want %s", got, want)
	}
}
