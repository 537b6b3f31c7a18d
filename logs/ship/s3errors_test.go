package ship

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/brisk-containers/brisk/logs/store"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
	"github.com/brisk-containers/brisk/logs/store/storetest"
)

// An S3 endpoint that fails with an errno the local store's rules call
// permanent (EINVAL: connect(2) to a link-local address without a zone) is
// a configuration to fix, not an entry to quarantine: the entry stays
// pending. The same errnos from local_dir still quarantine.
func TestErrnoRulesAreLocalDirs(t *testing.T) {
	storetest.New(t) // credentials for the SDK
	cfg := testLogs(t, config.CompressionNone)
	cfg.S3.Bucket, cfg.S3.Endpoint, cfg.S3.PathStyle, cfg.S3.Region = "b", "http://[fe80::1]:9", true, "us-east-1"
	cfg.S3.RequestTimeout = config.Duration(5 * time.Second)
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := writeEntry(t, cfg.SpoolDir, "linklocal", false, "x\n", "")
	o := s.ShipEntry(context.Background(), dir)
	if o.Status != Failed || !errors.Is(o.Err, syscall.EINVAL) {
		t.Fatalf("shipping to http://[fe80::1]:9: %v, %v; want failed with EINVAL, left pending", o.Status, o.Err)
	}
	if pending, _ := spool.Pending(cfg.SpoolDir); len(pending) != 1 {
		t.Errorf("pending entries after the failure: %v; want the entry", pending)
	}

	// local_dir under a regular file: ENOTDIR every time.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	local := &store.Local{Dir: filepath.Join(file, "logs")}
	err = local.Put(context.Background(), "ns/x@r.log", strings.NewReader("x"), nil, "")
	if !errors.Is(err, syscall.ENOTDIR) || !store.IsPermanent(err) {
		t.Errorf("local_dir under a file: %v (permanent %t); want ENOTDIR, permanent", err, store.IsPermanent(err))
	}
}

// A metadata value no HTTP header can carry fails in net/http before any
// request, every time: permanent, and nothing is sent.
func TestUnsendableMetadataIsPermanent(t *testing.T) {
	f := storetest.New(t)
	st := f.Store(f.Config())
	for _, meta := range []map[string]string{
		{"brisk-pod": "0a1b\n2c3d"},
		{"brisk-pod": "0a1b\x002c3d"},
		{"brisk pod": "x"},
	} {
		err := st.Put(context.Background(), "ns/x@r.log", strings.NewReader("x"), meta, "")
		if err == nil || !store.IsPermanent(err) {
			t.Errorf("Put with metadata %q: %v; want a permanent error", meta, err)
		}
	}
	if n := f.Requests.Load(); n != 0 {
		t.Errorf("%d requests sent for metadata no header carries", n)
	}
}

// A pod UID annotation with a newline and a NUL ships, and reads back as
// it was.
func TestMetadataWithControlCharactersShips(t *testing.T) {
	f := storetest.New(t)
	cfg := testLogs(t, config.CompressionNone)
	cfg.S3 = f.Config()
	s, err := New(context.Background(), cfg, WithStore(f.Store(cfg.S3)))
	if err != nil {
		t.Fatal(err)
	}
	pod := "0a1b2c3d-0000\n4000\x00-8000 é"
	e, err := spool.Open(cfg.SpoolDir, spool.Meta{Namespace: "ns", ID: "podded", Pod: pod, Started: started})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(spool.Stdout, []byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Finish(spool.ExitInfo{Exited: exited}); err != nil {
		t.Fatal(err)
	}
	e.Release()
	if o := s.ShipEntry(context.Background(), e.Dir()); o.Status != Shipped {
		t.Fatalf("shipping a log whose pod UID holds a newline and a NUL: %v %v", o.Status, o.Err)
	}
	_, meta, err := s.Store().Get(context.Background(), s.KeyFor("ns", "podded", e.Meta().Run))
	if err != nil {
		t.Fatal(err)
	}
	if got := DecodeMetaValue(meta["brisk-pod"]); got != pod {
		t.Errorf("brisk-pod reads back as %q (stored %q); want %q", got, meta["brisk-pod"], pod)
	}
}
