package ship

import (
	"context"
	"errors"
	"io/fs"
	"os"
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

// IDsUnder lists the log IDs that start with parent + "/", live in this
// node's spool or stored, at most limit of them, sorted. Under Kubernetes a
// pod's brisk.io/task-id names a parent: its containers' logs are below it,
// and this is how a lookup by the pod's ID finds them.
func (s *Shipper) IDsUnder(ctx context.Context, namespace, parent string, limit int) ([]string, error) {
	parent = strings.TrimSuffix(parent, "/") + "/"
	split := s.KeyFor(namespace, parent+idMarker)
	keyPrefix, keySuffix, ok := strings.Cut(split, idMarker)
	if !ok {
		return nil, nil
	}
	found := map[string]bool{}
	// Live entries: the spool keeps one directory per escaped ID.
	names, err := os.ReadDir(filepath.Join(s.cfg.SpoolDir, spool.EscapeName(namespace)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, n := range names {
		if id, err := spool.UnescapeName(n.Name()); err == nil && strings.HasPrefix(id, parent) {
			found[id] = true
		}
	}
	keys, err := s.store.List(ctx, keyPrefix, limit)
	if err != nil {
		return nil, err
	}
	// A key holds the sanitised ID; parent as given plus the rest of the
	// key sanitises to that same key, so it looks the log up.
	for _, k := range keys {
		if rest, ok := strings.CutSuffix(strings.TrimPrefix(k, keyPrefix), keySuffix); ok && rest != "" {
			found[parent+rest] = true
		}
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
