//go:build linux

package snapshotter

import (
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/core/snapshots"
)

// labelHolders lists, comma-separated, the profiles that hold a snapshot
// shared between profiles. Without it the snapshot's only holder is the
// profile that created it (ownerOf), which is how every snapshot made before
// profiles existed belongs to the default profile. Brisk keeps the label to
// itself: clients never see it and cannot set it.
const labelHolders = "brisk.io/holders"

// holders returns who holds a snapshot, sorted.
func holders(info snapshots.Info) []string {
	if v, ok := info.Labels[labelHolders]; ok && v != "" {
		return strings.Split(v, ",")
	}
	return []string{ownerOf(info.Name)}
}

func holds(info snapshots.Info, profile string) bool {
	return slices.Contains(holders(info), profile)
}

// withHolder returns the label value with profile added (add) or taken out.
func withHolder(info snapshots.Info, profile string, add bool) string {
	hs := slices.DeleteFunc(slices.Clone(holders(info)), func(h string) bool { return h == profile })
	if add {
		hs = append(hs, profile)
	}
	slices.Sort(hs)
	return strings.Join(hs, ",")
}

// withoutHolderLabel returns labels without labelHolders, copying only when
// it is there.
func withoutHolderLabel(labels map[string]string) map[string]string {
	if _, ok := labels[labelHolders]; !ok {
		return labels
	}
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != labelHolders {
			out[k] = v
		}
	}
	return out
}
