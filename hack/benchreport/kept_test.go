package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeptSectionsCarryOver: a section marked as written by hand survives a
// new report, whole; the generated ones are not copied.
func TestKeptSectionsCarryOver(t *testing.T) {
	old := "# Benchmarks\n\n## Generated\n\nold figures\n\n## Burst parity (before and after)\n" + keptMarker + "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nwhere it stands.\n\n## Reading these numbers\n\n- x\n"
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	got := keptSections(path)
	want := "## Burst parity (before and after)\n" + keptMarker + "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nwhere it stands.\n\n"
	if got != want {
		t.Errorf("kept sections:\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(got, "old figures") || strings.Contains(got, "Reading") {
		t.Error("a generated section was carried over")
	}
	if keptSections(filepath.Join(t.TempDir(), "none.md")) != "" {
		t.Error("a missing report has kept sections")
	}
}
