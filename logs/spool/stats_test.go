package spool

import (
	"testing"
	"time"
)

func TestReadStats(t *testing.T) {
	base := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	type entry struct {
		id     string
		done   bool
		exited time.Time
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		want    Stats
	}{
		{name: "no spool yet", want: Stats{}},
		{name: "running and waiting", entries: []entry{
			{"running", false, time.Time{}},
			{"late", true, base.Add(time.Minute)},
			{"early", true, base},
		}, want: Stats{Live: 1, Done: 2, Bytes: 3 * 36, OldestDone: base}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir() + "/spool"
			for _, e := range tc.entries {
				w, err := Open(dir, Meta{Namespace: "ns", ID: e.id}, WithClock(func() time.Time { return base }))
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Write(Stdout, []byte("hello\n")); err != nil {
					t.Fatal(err)
				}
				if e.done {
					if _, err := w.Finish(ExitInfo{Exited: e.exited}); err != nil {
						t.Fatal(err)
					}
				}
				defer w.Release()
			}
			got, err := ReadStats(dir)
			if err != nil {
				t.Fatal(err)
			}
			if !got.OldestDone.Equal(tc.want.OldestDone) || got.Live != tc.want.Live || got.Done != tc.want.Done || got.Bytes != tc.want.Bytes {
				t.Errorf("ReadStats = %+v, want %+v", got, tc.want)
			}
		})
	}
}
