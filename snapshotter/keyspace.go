//go:build linux

package snapshotter

import (
	"fmt"
	"strings"

	"github.com/brisk-containers/brisk/config"
	"github.com/containerd/errdefs"
)

// Every profile is a containerd snapshotter of its own, and containerd names
// backend snapshots NAMESPACE/SEQ/KEY with SEQ counted per snapshotter name
// (core/metadata/snapshot.go), so two profiles send the same keys for
// different snapshots. Each profile therefore has a key space of its own in
// the one store:
//
//	default profile:  KEY          (as before profiles existed)
//	profile P:        @P/KEY
//
// A profile sees its own snapshots under the keys it chose. A snapshot it
// holds but another profile created (a shared layer) it sees under an
// absolute name, which it sends back as is: @P/KEY for one of profile P's,
// @/KEY for one of the default profile's. containerd records whatever name
// Walk shows as the snapshot's backend key, so this round-trips.
const absMark = "@"

// splitKey undoes containerd's namespacing of the keys a proxy snapshotter
// sees, NAMESPACE/SEQ/KEY, where KEY may hold slashes itself
// (core/metadata/snapshot.go). The usage report serves the parts, so that no
// client parses keys.
func splitKey(key string) (namespace, name string) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return "", key
	}
	return parts[0], parts[2]
}

// internalKey maps a key a profile sent to the store's key.
func internalKey(profile, key string) string {
	switch {
	case key == "":
		return ""
	case strings.HasPrefix(key, absMark+"/"):
		return strings.TrimPrefix(key, absMark+"/")
	case strings.HasPrefix(key, absMark):
		return key
	case profile == config.DefaultProfileName:
		return key
	default:
		return absMark + profile + "/" + key
	}
}

// externalKey maps a store key to the name profile sees it under.
func externalKey(profile, key string) string {
	if key == "" {
		return ""
	}
	owner := ownerOf(key)
	switch {
	case owner == profile && owner == config.DefaultProfileName:
		return key
	case owner == profile:
		return strings.TrimPrefix(key, absMark+profile+"/")
	case owner == config.DefaultProfileName:
		return absMark + "/" + key
	default:
		return key
	}
}

// ownerOf is the profile whose key space a store key is in.
func ownerOf(key string) string {
	if rest, ok := strings.CutPrefix(key, absMark); ok {
		if name, _, ok := strings.Cut(rest, "/"); ok && name != "" {
			return name
		}
	}
	return config.DefaultProfileName
}

// ownKey maps a key for a new snapshot, which must be in the profile's own
// key space: a profile cannot create snapshots under another's names.
func ownKey(profile, key string) (string, error) {
	ik := internalKey(profile, key)
	if key == "" || ownerOf(ik) != profile {
		return "", fmt.Errorf("snapshot key %q: new keys must not start with %q, which marks another profile's snapshots: %w", key, absMark, errdefs.ErrInvalidArgument)
	}
	return ik, nil
}
