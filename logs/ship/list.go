package ship

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/logs/spool"
)

// idMarker stands for an ID while a key template is split around {id}; it
// survives Key's sanitising unchanged.
const idMarker = "brisk-id-marker-4f1c"

// maxRuns bounds the runs of one ID a lookup lists.
const maxRuns = 1000

// Run is one run of a log ID: live in this node's spool, stored, or both
// (shipped while we looked).
type Run struct {
	Run string
	Key string // its object key
	Dir string // its spool entry, when it is in this node's spool
}

// Runs lists the runs of (namespace, id), oldest first: those in this node's
// spool and those stored. With the store unreachable it returns the live
// runs and the store's error.
func (s *Shipper) Runs(ctx context.Context, namespace, id string) ([]Run, error) {
	byRun := map[string]*Run{}
	live, err := spool.Runs(s.cfg.SpoolDir, namespace, id)
	if err != nil {
		return nil, err
	}
	for _, r := range live {
		byRun[r.Run] = &Run{Run: r.Run, Key: s.KeyFor(namespace, id, r.Run), Dir: r.Dir}
	}
	keyPrefix, keySuffix, _ := strings.Cut(s.KeyFor(namespace, id, idMarker), idMarker)
	keys, lerr := s.store.List(ctx, keyPrefix, maxRuns)
	for _, k := range keys {
		run, ok := strings.CutSuffix(strings.TrimPrefix(k, keyPrefix), keySuffix)
		// The prefix also matches the runs of IDs that extend this one
		// with "@...": only a run name follows this ID's own "@".
		if !ok || !spool.IsRun(run) {
			continue
		}
		if r := byRun[run]; r != nil {
			r.Key = k
		} else {
			byRun[run] = &Run{Run: run, Key: k}
		}
	}
	runs := make([]Run, 0, len(byRun))
	for _, r := range byRun {
		runs = append(runs, *r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Run < runs[j].Run })
	if lerr != nil {
		lerr = fmt.Errorf("list runs of %q in %s: %w", id, s.store, lerr)
	}
	return runs, lerr
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
	keys, err := s.store.List(ctx, keyPrefix, maxRuns)
	if err != nil {
		return nil, err
	}
	// A key holds the sanitised ID and its run; parent as given plus the
	// rest of the key sanitises to that same key, so it looks the log up.
	for _, k := range keys {
		rest, ok := strings.CutSuffix(strings.TrimPrefix(k, keyPrefix), keySuffix)
		i := strings.LastIndex(rest, "@")
		if !ok || i <= 0 || !spool.IsRun(rest[i+1:]) {
			continue
		}
		found[parent+rest[:i]] = true
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

// List returns up to limit keys starting with prefix.
func (s *S3Store) List(ctx context.Context, prefix string, limit int) ([]string, error) {
	client, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  aws.String(prefix),
		MaxKeys: aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(out.Contents))
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

// List returns up to limit keys starting with prefix, as S3 would: the files
// under Dir, by slash-separated path.
func (l *LocalStore) List(_ context.Context, prefix string, limit int) ([]string, error) {
	// Walk only the deepest directory the prefix names.
	start := l.Dir
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(l.Dir, filepath.FromSlash(prefix[:i]))
	}
	var keys []string
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || strings.HasSuffix(path, ".meta.json") || strings.HasSuffix(path, ".tmp") {
			return nil
		}
		rel, err := filepath.Rel(l.Dir, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
			if len(keys) == limit {
				return fs.SkipAll
			}
		}
		return nil
	})
	return keys, err
}
