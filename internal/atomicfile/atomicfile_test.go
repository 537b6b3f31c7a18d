package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Opt
		perm os.FileMode
	}{
		{"plain", nil, 0o600},
		{"synced", []Opt{WithSync()}, 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.json")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := Write(path, []byte("new"), tc.perm, tc.opts...); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			st, _ := os.Stat(path)
			if err != nil || string(data) != "new" || st.Mode().Perm() != tc.perm {
				t.Fatalf("read %q %v, mode %v; want \"new\" %v", data, err, st.Mode(), tc.perm)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("temporary file left: %v", entries)
			}
		})
	}
}

func TestWriteFailureLeavesTheOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory cannot be renamed over by a file: the last step fails.
	target := filepath.Join(dir, "d")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, []byte("new"), 0o644); err == nil {
		t.Fatal("write over a non-empty directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("temporary file left after a failure: %v", entries)
	}
}

func TestWithSetup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The setup runs on the whole new content, before the rename.
	var seen []byte
	setup := func(f *os.File) error {
		seen, _ = os.ReadFile(f.Name())
		return f.Chmod(0o640)
	}
	if err := Write(path, []byte("new"), 0o600, WithSetup(setup)); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if string(seen) != "new" || st.Mode().Perm() != 0o640 {
		t.Fatalf("setup saw %q, mode after %v", seen, st.Mode())
	}
	// A failed setup leaves the old file and no temporary one.
	if err := Write(path, []byte("newer"), 0o600, WithSetup(func(*os.File) error { return os.ErrPermission })); err == nil {
		t.Fatal("a failed setup was not reported")
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Fatalf("after a failed setup: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary file left: %v", entries)
	}
}
