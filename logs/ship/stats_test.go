package ship

import (
	"testing"

	"github.com/brisk-containers/brisk/logs/spool"
)

func TestMetadataCarriesTaskStats(t *testing.T) {
	md := Metadata(spool.Meta{ID: "t", State: spool.StateDone,
		Stats: map[string]string{"cpu-ns": "758030204", "memory-peak-bytes": "unavailable"}})
	for k, want := range map[string]string{"brisk-cpu-ns": "758030204", "brisk-memory-peak-bytes": "unavailable"} {
		if md[k] != want {
			t.Errorf("%s = %q, want %q", k, md[k], want)
		}
	}
	if _, ok := md["brisk-io-pressure-some-us"]; ok {
		t.Error("a figure the task's stats lack is in the metadata")
	}
}
