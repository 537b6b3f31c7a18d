package batch

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/errdefs"

	"github.com/brisk-containers/brisk/logs/store"
)

// ErrNoConditionalWrites: the store stored a write it was told to make
// only if the object was absent, or still a given version. Batch mode
// relies on both (a batch is never stored twice, the compactor's lease and
// index are never overwritten by a stale writer) and is refused on it.
var ErrNoConditionalWrites = errors.Join(errors.New("the store does not honour conditional writes (If-None-Match, If-Match)"), errdefs.ErrNotImplemented)

// Probe finds out whether st honours conditional writes, with four
// requests on a probe object under prefix that it deletes after. where
// names the store in the error. A store that answers but ignores the
// conditions is ErrNoConditionalWrites; a store that does not answer is
// its error, to try again.
func Probe(ctx context.Context, st store.Conditional, prefix, node, where string) error {
	ctx = store.WithPurpose(ctx, store.PurposeProbe)
	key := prefix + "index/probe/" + NodeName(node) + "-" + nonce()
	refuse := func(what string) error {
		return fmt.Errorf("%s: %s; logs.upload = \"batch\" needs both If-None-Match and If-Match on PUT (AWS S3 since 2024, MinIO since 2024-08): use logs.upload = \"task\" with this store: %w", where, what, ErrNoConditionalWrites)
	}
	etag, err := st.Create(ctx, key, []byte("brisk conditional write probe\n"))
	if store.IsNotImplemented(err) {
		return refuse(fmt.Sprintf("a PUT with If-None-Match: * was refused as not implemented (%v)", err))
	}
	if err != nil {
		return fmt.Errorf("probe %s for conditional writes: %w", where, err)
	}
	defer func() { _ = st.Delete(context.WithoutCancel(ctx), key) }()
	switch _, err := st.Create(ctx, key, []byte("second\n")); {
	case err == nil:
		return refuse("a PUT with If-None-Match: * replaced an object that existed")
	case !errors.Is(err, store.ErrExists):
		return fmt.Errorf("probe %s for conditional writes: %w", where, err)
	}
	switch _, err := st.Replace(ctx, key, []byte("third\n"), `"00000000000000000000000000000000"`); {
	case store.IsNotImplemented(err):
		return refuse(fmt.Sprintf("a PUT with If-Match was refused as not implemented (%v)", err))
	case err == nil:
		return refuse("a PUT with If-Match of an ETag the object does not have replaced it")
	case !errors.Is(err, store.ErrConflict):
		return fmt.Errorf("probe %s for conditional writes: %w", where, err)
	}
	if _, err := st.Replace(ctx, key, []byte("fourth\n"), etag); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return refuse("a PUT with If-Match of the object's own ETag was refused")
		}
		return fmt.Errorf("probe %s for conditional writes: %w", where, err)
	}
	return nil
}
