package spooltest

import (
	"testing"

	"github.com/brisk-containers/brisk/logs/spool"
)

// Quarantined makes a finished task log in spoolDir and quarantines it, as a
// shipper does with one that can never ship; it returns its directory.
func Quarantined(t testing.TB, spoolDir, id string) string {
	t.Helper()
	e, err := spool.Open(spoolDir, spool.Meta{Namespace: "default", ID: id})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Write(spool.Stdout, []byte("a line that never shipped\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Finish(spool.ExitInfo{}); err != nil {
		t.Fatal(err)
	}
	if err := e.Claim().Quarantine("test: the bucket is gone"); err != nil {
		t.Fatal(err)
	}
	e.Release()
	return e.Claim().Dir()
}
