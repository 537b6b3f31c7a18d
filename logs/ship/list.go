package ship

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/brisk-containers/brisk/logs/index"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store"
)

// idMarker stands for an ID while a key template is split around {id}; it
// survives Key's sanitising unchanged.
const idMarker = "brisk-id-marker-4f1c"

// runTimeLayout is how spool.NewRun writes a run's start time at the head
// of its name: names, and so keys, sort by it.
const runTimeLayout = "20060102T150405.000000Z"

// recentWindows are how far back RecentRuns looks, in turn, for the latest
// run of an ID with more runs than one listing page holds.
var recentWindows = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// Run is one run of a log ID: live in this node's spool, stored, or both
// (shipped while we looked).
type Run struct {
	Run string
	Key string // its object key; under batch mode, its batch's
	Dir string // its spool entry, when it is in this node's spool
	// Batch is where in its batch the run is, under batch mode.
	Batch *index.Hit
}

// runSet gathers the runs of one ID from the spool and the store.
type runSet map[string]*Run

func (rs runSet) add(run, key, dir string) {
	if r := rs[run]; r != nil {
		r.Key = key
		return
	}
	rs[run] = &Run{Run: run, Key: key, Dir: dir}
}

// addRuns adds runs found in batches; a run also in the spool keeps its
// entry.
func (rs runSet) addRuns(runs []Run) {
	for _, r := range runs {
		if cur := rs[r.Run]; cur != nil {
			cur.Key, cur.Batch = r.Key, r.Batch
			continue
		}
		r := r
		rs[r.Run] = &r
	}
}

// sorted is the runs oldest first.
func (rs runSet) sorted() []Run {
	runs := make([]Run, 0, len(rs))
	for _, r := range rs {
		runs = append(runs, *r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Run < runs[j].Run })
	return runs
}

// liveRuns are the runs of (namespace, id) in this node's spool.
func (s *Shipper) liveRuns(namespace, id string) (runSet, error) {
	live, err := spool.Runs(s.cfg.SpoolDir, namespace, id)
	if err != nil {
		return nil, err
	}
	rs := runSet{}
	for _, r := range live {
		rs[r.Run] = &Run{Run: r.Run, Key: s.KeyFor(namespace, id, r.Run), Dir: r.Dir}
	}
	return rs, nil
}

// storedRuns adds to rs the stored runs of (namespace, id) that started at
// or after since (zero: all), reading at most pages pages (0: all): found
// of them, and done says whether it saw the last.
func (s *Shipper) storedRuns(ctx context.Context, rs runSet, namespace, id string, since time.Time, pages int) (found int, done bool, err error) {
	keyPrefix, keySuffix, _ := strings.Cut(s.KeyFor(namespace, id, idMarker), idMarker)
	startAfter := ""
	if !since.IsZero() {
		// Every run of that time or later sorts after this: the run
		// name goes on with "-TAG".
		startAfter = keyPrefix + since.UTC().Format(runTimeLayout)
	}
	n := 0
	done = true
	err = s.store.List(store.WithPurpose(ctx, store.PurposeList), keyPrefix, startAfter, func(keys []string, more bool) bool {
		for _, k := range keys {
			rest := strings.TrimPrefix(k, keyPrefix)
			// A run name starts with a digit: keys from here on are
			// those of IDs that extend this one with "@...".
			if rest != "" && rest[0] > '9' {
				return false
			}
			if run, ok := strings.CutSuffix(rest, keySuffix); ok && spool.IsRun(run) {
				rs.add(run, k, "")
				found++
			}
		}
		n++
		if more && pages > 0 && n >= pages {
			done = false
			return false
		}
		return true
	})
	return found, done, err
}

// Runs lists every run of (namespace, id), oldest first: those in this
// node's spool and those stored, however many (one listing request per
// 1,000 stored). With the store unreachable it returns the live runs and
// the store's error.
func (s *Shipper) Runs(ctx context.Context, namespace, id string) ([]Run, error) {
	rs, err := s.liveRuns(namespace, id)
	if err != nil {
		return nil, err
	}
	err = s.withBatchRuns(ctx, rs, namespace, id, func() error {
		_, _, err := s.storedRuns(ctx, rs, namespace, id, time.Time{}, 0)
		return err
	})
	if err != nil {
		return rs.sorted(), fmt.Errorf("list runs of %q in %s: %w", id, s.store, err)
	}
	return rs.sorted(), nil
}

// RecentRuns lists runs of (namespace, id), oldest first, the latest among
// them, in as few listing requests as it can; all says whether they are
// every run. S3 lists keys in ascending order only, and run keys sort by
// start time, oldest first: one request from the start finds every run of
// an ID with up to 1,000. Beyond, a second listing starts at the runs of
// the last hour (further back while it finds none): two requests for an ID
// run every minute of the day.
func (s *Shipper) RecentRuns(ctx context.Context, namespace, id string) (runs []Run, all bool, err error) {
	rs, err := s.liveRuns(namespace, id)
	if err != nil {
		return nil, false, err
	}
	var done bool
	err = s.withBatchRuns(ctx, rs, namespace, id, func() error {
		var err error
		_, done, err = s.storedRuns(ctx, rs, namespace, id, time.Time{}, 1)
		return err
	})
	if err != nil {
		return rs.sorted(), false, fmt.Errorf("list runs of %q in %s: %w", id, s.store, err)
	}
	if done {
		return rs.sorted(), true, nil
	}
	for _, back := range recentWindows {
		recent, err := s.liveRuns(namespace, id)
		if err != nil {
			return nil, false, err
		}
		found, _, err := s.storedRuns(ctx, recent, namespace, id, time.Now().Add(-back), 0)
		if err != nil {
			return rs.sorted(), false, fmt.Errorf("list runs of %q in %s: %w", id, s.store, err)
		}
		// The latest stored run sorts after the start of any window
		// that holds a stored run.
		if found > 0 {
			return recent.sorted(), false, nil
		}
	}
	runs, err = s.Runs(ctx, namespace, id)
	return runs, err == nil, err
}

// IDsUnder lists the log IDs that start with parent + "/", live in this
// node's spool or stored, at most limit of them, sorted. Under Kubernetes a
// pod's brisk.io/task-id names a parent: its containers' logs are below it,
// and this is how a lookup by the pod's ID finds them.
func (s *Shipper) IDsUnder(ctx context.Context, namespace, parent string, limit int) ([]string, error) {
	parent = strings.TrimSuffix(parent, "/") + "/"
	split := Key(s.cfg.S3.Key, s.cfg.S3.Prefix, namespace, parent+idMarker)
	keyPrefix, keySuffix, ok := strings.Cut(split, idMarker)
	if !ok {
		return nil, nil
	}
	found := map[string]bool{}
	live, err := spool.IDs(s.cfg.SpoolDir, namespace)
	if err != nil {
		return nil, err
	}
	for _, id := range live {
		if strings.HasPrefix(id, parent) {
			found[id] = true
		}
	}
	// A key holds the sanitised ID and its run; parent as given plus the
	// rest of the key sanitises to that same key, so it looks the log up.
	// Keys come in ascending order, an ID's runs together: the listing
	// stops once it found more IDs than are asked for.
	stored := 0
	err = s.store.List(store.WithPurpose(ctx, store.PurposeList), keyPrefix, "", func(keys []string, _ bool) bool {
		for _, k := range keys {
			rest, ok := strings.CutSuffix(strings.TrimPrefix(k, keyPrefix), keySuffix)
			i := strings.LastIndex(rest, "@")
			if !ok || i <= 0 || !spool.IsRun(rest[i+1:]) {
				continue
			}
			if id := parent + rest[:i]; !found[id] {
				found[id] = true
				stored++
			}
		}
		return stored <= limit
	})
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	return ids, nil
}
