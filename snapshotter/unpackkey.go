package snapshotter

import (
	"strings"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/opencontainers/go-digest"
)

// isUnpackKey reports whether key names a snapshot containerd's unpacker
// prepares to extract a layer into (snapshots.UnpackKeyFormat, "extract-UNIQUE
// CHAINID"). The client-side unpack of `ctr run` and `ctr images mount` sends
// no containerd.io/snapshot.ref label, so the key is all that tells such a
// snapshot from a container's rootfs. containerd's metadata store prefixes
// keys with NAMESPACE/SEQ/ and a profile's key space with @PROFILE/, neither
// of which the unpack key itself contains, so its last segment is looked at.
func isUnpackKey(key string) bool {
	base := key[strings.LastIndex(key, "/")+1:]
	unique, chainID, ok := strings.Cut(base, " ")
	if !ok || !strings.HasPrefix(unique, snapshots.UnpackKeyPrefix+"-") {
		return false
	}
	// A container that happens to be called extract-something is not one.
	return digest.Digest(chainID).Validate() == nil
}
