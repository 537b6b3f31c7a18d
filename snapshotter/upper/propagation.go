package upper

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Mount propagation. When a tmpfs upper is mounted under a shared mount (as
// on any node where systemd made / shared and a data disk is bind mounted
// under /var/lib), the kernel mounts it again under every peer and slave of
// that mount. Such a copy is no user of the upper: unmounting the original
// unmounts it too (umount propagates the same way). A user's bind mount of
// the upper joins the same peer group as those copies, so the group alone
// cannot tell them apart; where the copy sits can: under a mount that
// receives propagation from the original's parent, at the path that
// corresponds to the original's.

// propagationGroups reads the peer group a mount is in (shared:N) and the
// one it receives from (master:N); zero is none.
func propagationGroups(m *mountinfo.Info) (shared, master int) {
	for _, f := range strings.Fields(m.Optional) {
		k, v, _ := strings.Cut(f, ":")
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		switch k {
		case "shared":
			shared = n
		case "master":
			master = n
		}
	}
	return shared, master
}

// receivers lists the mounts that receive what is mounted under src: its
// peers, its slaves, and, through slaves that are shared themselves, their
// peers and slaves in turn. A mount that is not shared has none.
func receivers(ms []*mountinfo.Info, src *mountinfo.Info) map[int]*mountinfo.Info {
	out := map[int]*mountinfo.Info{}
	group, _ := propagationGroups(src)
	if group == 0 {
		return out
	}
	groups := map[int]bool{group: true}
	for grew := true; grew; {
		grew = false
		for _, m := range ms {
			if m.ID == src.ID || out[m.ID] != nil {
				continue
			}
			shared, master := propagationGroups(m)
			if !groups[shared] && !groups[master] {
				continue
			}
			out[m.ID] = m
			grew = true
			if shared != 0 {
				groups[shared] = true
			}
		}
	}
	return out
}

// propagatedCopies returns the mounts that are copies of self made by
// propagation, by mount ID. ms is the whole mount table self was read from.
func propagatedCopies(ms []*mountinfo.Info, self *mountinfo.Info) map[int]*mountinfo.Info {
	copies := map[int]*mountinfo.Info{}
	var parent *mountinfo.Info
	for _, m := range ms {
		if m.ID == self.Parent {
			parent = m
		}
	}
	if parent == nil {
		return copies
	}
	// Where self sits in the filesystem of its parent mount.
	rel, err := filepath.Rel(parent.Mountpoint, self.Mountpoint)
	if err != nil || strings.HasPrefix(rel, "..") {
		return copies
	}
	at := filepath.Join(parent.Root, rel)
	recv := receivers(ms, parent)
	for _, m := range ms {
		r := recv[m.Parent]
		if r == nil || m.ID == self.ID || m.Major != self.Major || m.Minor != self.Minor || m.Root != self.Root {
			continue
		}
		// A receiver shows a part of the parent's filesystem; the copy
		// is at self's place in that part.
		if r.Major != parent.Major || r.Minor != parent.Minor {
			continue
		}
		inR, err := filepath.Rel(r.Root, at)
		if err != nil || strings.HasPrefix(inR, "..") {
			continue
		}
		if m.Mountpoint == filepath.Join(r.Mountpoint, inR) {
			copies[m.ID] = m
		}
	}
	return copies
}
