package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/brisk-containers/brisk/logs/ship"
	"github.com/brisk-containers/brisk/logs/spool"
)

// TestLogsFollowOnTheNodeGoesOnFromTheStoreByOffset: a shim that dies in
// the middle of its exit leaves its log holding the note of what max_bytes
// dropped, not yet recorded, past what the entry ships as (the retrier
// writes the note again, from meta.json). briskctl logs -f on the node
// must go on from the stored object where the spool's shipped bytes end:
// what it prints is the stored log, not the dead shim's note and then the
// object's records counted past it.
func TestLogsFollowOnTheNodeGoesOnFromTheStoreByOffset(t *testing.T) {
	n := newLogNode(t, nil)
	e := n.open("default", "t", spool.WithMaxBytes(4<<10))
	for i := range 200 {
		if err := e.Write(spool.Stdout, []byte(fmt.Sprintf("line %d of a task that writes past max_bytes\n", i))); err != nil {
			t.Fatal(err)
		}
	}
	m, err := spool.ReadMeta(e.Dir())
	if err != nil || m.Tail == nil || m.Tail.Dropped == 0 {
		t.Fatalf("the entry is not in its tail phase: %+v %v", m.Tail, err)
	}
	head, err := os.ReadFile(spool.LogPath(e.Dir()))
	if err != nil || int64(len(head)) != m.Tail.HeadSize {
		t.Fatalf("log of %d bytes, head %d: %v", len(head), m.Tail.HeadSize, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(head), "\n"), "\n")
	lastOfHead, err := spool.ParseRecord([]byte(lines[len(lines)-1]))
	if err != nil {
		t.Fatal(err)
	}
	// The shim's exit writes the note of what was dropped to the log,
	// and dies before recording it: the log runs past the head.
	log, err := os.OpenFile(spool.LogPath(e.Dir()), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.Write(spool.Note(m.Tail.HeadEnd, fmt.Sprintf("%d bytes dropped here: max_bytes keeps the head and the tail", m.Tail.Dropped+300))); err != nil {
		t.Fatal(err)
	}
	log.Close()
	e.Release() // the shim is gone; the entry is live, and the retrier's

	var out syncBuffer
	type result struct {
		stderr string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		_, stderr, err := runLogs(&out, n.onNode, "-f", "t")
		res <- result{stderr, err}
	}()
	out.waitFor(t, string(lastOfHead.Content)) // the head, read from the spool
	n.ship(e)
	r := <-res
	if r.err != nil {
		t.Fatalf("follow: %v", r.err)
	}
	wantOut, wantErr, err := n.local("t") // from the store now
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(wantErr, "bytes dropped here") {
		t.Fatalf("the stored log has no note of what was dropped: %q", wantErr)
	}
	if out.String() != wantOut || r.stderr != wantErr {
		t.Errorf("followed on the node:\nstdout %s\nstderr %q\nwant   %q", firstDifference(out.String(), wantOut), r.stderr, wantErr)
	}
}

// TestLogsFollowAnEntryShippedBeforeItIsOpened: briskctl logs -f lists
// the run in the spool, and the entry ships before the follow opens it (a
// task of a few seconds ends as the user types): the log comes from the
// store, not an error about a missing file.
func TestLogsFollowAnEntryShippedBeforeItIsOpened(t *testing.T) {
	n := newLogNode(t, nil)
	e := n.open("default", "t")
	printSome(t, e, "gone")
	run := e.Meta().Run
	dir := e.Dir()
	n.finish(e, 0)
	n.ship(e)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the entry is still there once shipped: %v", err)
	}
	want, wantErr, err := n.local("t")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut syncBuffer
	set := flag.NewFlagSet("logs", flag.ContinueOnError)
	set.Bool("follow", true, "")
	set.Bool("metadata", false, "")
	c := cli.NewContext(&cli.App{Writer: &out, ErrWriter: &errOut}, set, nil)
	listed := ship.Run{Run: run, Key: n.shipper.KeyFor("default", "t", run), Dir: dir} // as listed before it shipped
	if err := showRun(context.Background(), c, n.shipper, listed, &printer{stdout: &out, stderr: &errOut}); err != nil {
		t.Fatalf("follow of an entry that shipped before it was opened: %v", err)
	}
	if out.String() != want || errOut.String() != wantErr {
		t.Errorf("stdout %s; stderr %q, want %q", firstDifference(out.String(), want), errOut.String(), wantErr)
	}
}
