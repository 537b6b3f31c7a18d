package upper

import "testing"

// TestUnusedReadsTheTableAsTheParserWould: unused answers true only where
// UsedBy's parse would find no user, and leaves every other table to it.
func TestUnusedReadsTheTableAsTheParserWould(t *testing.T) {
	const (
		dir  = "/var/lib/brisk/snapshots/42/tmpfs"
		root = "22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
		self = "61 22 0:77 / /var/lib/brisk/snapshots/42/tmpfs rw,noatime shared:30 - tmpfs brisk rw,size=8192k,nr_inodes=1000\n"
	)
	for _, tc := range []struct {
		name  string
		table string
		dir   string
		want  bool
	}{
		{"mounted, nothing else", root + self, dir, true},
		{"a neighbour's tmpfs at a longer path", root + self + "62 22 0:78 / /var/lib/brisk/snapshots/42/tmpfs2 rw - tmpfs brisk rw\n", dir, true},
		{"not mounted", root, dir, false},
		{"an overlay's upper in it", root + self + "70 22 0:90 / /run/c/rootfs rw - overlay overlay rw,lowerdir=/var/lib/brisk/snapshots/1/fs,upperdir=/var/lib/brisk/snapshots/42/tmpfs/fs,workdir=/var/lib/brisk/snapshots/42/tmpfs/work\n", dir, false},
		{"bind mounted elsewhere", root + self + "71 22 0:77 /fs /mnt/x rw - tmpfs brisk rw\n", dir, false},
		{"a propagated copy", root + self + "72 40 0:77 / /peer/snapshots/42/tmpfs rw master:30 - tmpfs brisk rw\n", dir, false},
		{"stacked", root + self + "73 61 0:79 / /var/lib/brisk/snapshots/42/tmpfs rw - tmpfs brisk rw\n", dir, false},
		{"a path mountinfo escapes", root + "61 22 0:77 / /a\\040b/tmpfs rw - tmpfs brisk rw\n", "/a b/tmpfs", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unused([]byte(tc.table), tc.dir); got != tc.want {
				t.Errorf("unused = %v, want %v", got, tc.want)
			}
		})
	}
}
