package testutil

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestXattr is the user xattr tests set on an operator's file to see that an
// edit keeps it.
const TestXattr = "user.brisk-test"

// FileAttrs is what an edit of an operator's file must keep beside its
// content.
type FileAttrs struct {
	Mode, UID, GID uint32
	Xattr          string // the value of TestXattr
}

// AttrsOf reads path's FileAttrs without following a link.
func AttrsOf(t testing.TB, path string) FileAttrs {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := unix.Lgetxattr(path, TestXattr, buf)
	return FileAttrs{Mode: st.Mode, UID: st.Uid, GID: st.Gid, Xattr: string(buf[:max(n, 0)])}
}
