package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"
)

// TestFollowLogStartsWithinWhatShips: a shim that dies in Finish, after
// appending the note of what max_bytes dropped and before recording it,
// leaves a log longer than what its entry ships as (OpenLog writes the
// note again). A follower that arrives then passes on only a prefix of
// what ships, so that it can go on from the stored object at its offset.
func TestFollowLogStartsWithinWhatShips(t *testing.T) {
	e, err := Open(t.TempDir(), Meta{Namespace: "ns", ID: "t", Started: time.Now()}, WithMaxBytes(4<<10))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := e.Write(Stdout, []byte(fmt.Sprintf("line %d of a task that writes past max_bytes\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	m, err := ReadMeta(e.Dir())
	if err != nil || m.Tail == nil {
		t.Fatalf("not in the tail phase: %+v %v", m, err)
	}
	// Finish's first step, and then the shim dies.
	f, err := os.OpenFile(LogPath(e.Dir()), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(dropNote(m.Tail.HeadEnd, m.Tail.Dropped+300)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e.Release()

	stop := errors.New("caught up")
	var passed bytes.Buffer
	res, err := FollowLog(context.Background(), e.Dir(), 0, func(line []byte) error {
		if line == nil {
			return stop
		}
		passed.Write(line)
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("follow: %+v %v", res, err)
	}
	m, _ = ReadMeta(e.Dir())
	r, err := OpenLog(e.Dir(), m)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	shipped, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if res.Offset != int64(passed.Len()) || !bytes.HasPrefix(shipped, passed.Bytes()) {
		t.Errorf("followed %d bytes (offset %d), not a prefix of the %d that ship: %q...", passed.Len(), res.Offset, len(shipped), passed.Bytes()[max(0, passed.Len()-120):])
	}
}
