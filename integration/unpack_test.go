package integration

import (
	"crypto/rand"
	"strings"
	"testing"

	"github.com/brisk-containers/brisk/integration/harness"
)

// TestClientUnpackLargerThanTmpfs: ctr run of an image not yet unpacked
// unpacks on the client, which labels its extract snapshots with nothing;
// a layer larger than tmpfs_size must still unpack (onto the root) and the
// container run on it.
func TestClientUnpackLargerThanTmpfs(t *testing.T) {
	env := harness.New(t)
	sn := env.StartSnapshotter(`tmpfs_size = "1Mi"`)
	ctd := env.StartContainerd(sn.ProxyConfig())
	blob := make([]byte, 4<<20)
	_, _ = rand.Read(blob)
	tarball, err := harness.BuildImage(env.Path(), env.Busybox, harness.ImageName, harness.ImageFile{Path: "/data/blob", Mode: 0o644, Data: blob})
	if err != nil {
		t.Fatal(err)
	}
	ctd.MustCtr("images", "import", "--no-unpack", tarball)
	out, stderr, err := ctd.Ctr("run", "--rm", "--snapshotter", "brisk", harness.ImageName, "unpack-1", "wc", "-c", "/data/blob")
	if err != nil || !strings.Contains(out, "4194304 /data/blob") {
		t.Fatalf("ctr run with a client-side unpack: %v\n%s%s\nbrisk-snapshotter:\n%s", err, out, stderr, sn.Proc.LogTail())
	}
}
