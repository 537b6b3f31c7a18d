package spool

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"time"

	"github.com/brisk-containers/brisk/internal/backoff"
)

// FollowPoll is how often a follower looks for new records once it has
// read all there are. Followers poll rather than use inotify: the shim
// never learns of them and pays nothing for them, and a spool on tmpfs
// answers a read at EOF in a microsecond.
const FollowPoll = 50 * time.Millisecond

// FollowEnd is why FollowLog returned without an error.
type FollowEnd int

const (
	// Finished: the entry is done; Meta has its exit code and the log's
	// every record was passed on.
	Finished FollowEnd = iota + 1
	// Gone: the entry left the spool (shipped) before it was read to its
	// end. The rest is in the stored object, from Offset on.
	Gone
)

// Followed is where a follow ended.
type Followed struct {
	End    FollowEnd
	Offset int64 // bytes of the log passed on: the stored object's bytes up to here
	Meta   Meta  // the entry's metadata as last read
}

// FollowLog passes the records of the entry in dir to fn, each a whole CRI
// line with its newline, from byte offset of the log on, as they are
// written; it returns once the entry is done or gone. Each time it has
// caught up with the writer it calls fn(nil): a reader that wants only
// what is there now stops by returning an error then.
//
// The bytes passed on are always a prefix of the object the entry ships
// as, so that a follower can go on from the store at Offset and see every
// record exactly once:
//   - the shim writes the head to the log file; once max_bytes is reached
//     the tail goes to segment files, and at exit the note of what was
//     dropped and the kept tail are appended to the log. The follower reads
//     the log file only: during the tail phase it waits, and at exit it
//     gets the note and the tail, which are what the object holds.
//   - a shim that dies leaves its log to be shipped as OpenLog reads it:
//     whole records up to TailFrom (or the head's size once the tail
//     began). The follower never reads past that while the entry is live.
func FollowLog(ctx context.Context, dir string, offset int64, fn func(record []byte) error) (Followed, error) {
	res := Followed{Offset: offset}
	f, err := os.Open(LogPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		res.End = Gone
		return res, nil
	}
	if err != nil {
		return res, err
	}
	defer f.Close()
	var pending []byte
	buf := make([]byte, 64<<10)
	// How far the log may be read is known before the first read: an
	// entry whose shim died in Finish holds bytes past what it ships as,
	// and a follower that arrives then must not pass them on.
	m, err := ReadMeta(dir)
	if err != nil {
		res.End = Gone
		return res, nil
	}
	limit := int64(-1) // no limit: the log may be read to its end
	if m.State != StateDone {
		limit = liveLimit(m)
	}
	for {
		var n int
		var rerr error
		if limit < 0 || res.Offset+int64(len(pending)) < limit {
			want := len(buf)
			if limit >= 0 {
				want = int(min(int64(want), limit-res.Offset-int64(len(pending))))
			}
			n, rerr = f.ReadAt(buf[:want], res.Offset+int64(len(pending)))
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return res, rerr
		}
		if n > 0 {
			pending = append(pending, buf[:n]...)
			end := bytes.LastIndexByte(pending, '\n') + 1
			if end > 0 {
				if err := emit(pending[:end], fn); err != nil {
					return res, err
				}
				res.Offset += int64(end)
				pending = append(pending[:0], pending[end:]...)
			}
			continue
		}
		// At the end of what may be read now: the entry's state says
		// whether more will come.
		m, err := ReadMeta(dir)
		if err != nil {
			res.End = Gone
			return res, nil
		}
		res.Meta = m
		if m.State == StateDone {
			// The log was complete before meta.json said done: one
			// more read gets whatever came since the last.
			if limit >= 0 {
				limit = -1
				continue
			}
			if more, _ := f.ReadAt(buf[:1], res.Offset+int64(len(pending))); more > 0 {
				continue
			}
			res.End = Finished
			return res, nil
		}
		limit = liveLimit(m)
		if err := fn(nil); err != nil {
			return res, err
		}
		if !backoff.Sleep(ctx, FollowPoll) {
			return res, ctx.Err()
		}
	}
}

// liveLimit is how far a live entry's log may be read: what OpenLog would
// ship if the shim died now (see its doc), or -1 for all of it.
func liveLimit(m Meta) int64 {
	switch {
	case m.TailFrom > 0:
		return m.TailFrom
	case m.Tail != nil:
		return m.Tail.HeadSize
	}
	return -1
}

// emit passes each line of whole (whole lines) to fn.
func emit(whole []byte, fn func([]byte) error) error {
	for len(whole) > 0 {
		i := bytes.IndexByte(whole, '\n')
		if err := fn(whole[:i+1]); err != nil {
			return err
		}
		whole = whole[i+1:]
	}
	return nil
}
