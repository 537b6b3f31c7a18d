package main

import (
	"os"
	"strings"
)

// keptMarker, on the line after a section's heading in the report, marks a
// section written by hand (a dated before/after comparison, with its own
// raw data): a new report carries it over as it is, where the generated
// sections end.
const keptMarker = "<!-- kept: written by hand, carried over by benchreport -->"

// keptSections returns the marked sections of the report at path, if any.
func keptSections(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, sec := range strings.SplitAfter(string(data), "\n## ") {
		heading, body, _ := strings.Cut(sec, "\n")
		if !strings.HasPrefix(strings.TrimSpace(body), keptMarker) {
			continue
		}
		body = strings.TrimSuffix(body, "\n## ")
		b.WriteString("## " + heading + "\n" + strings.TrimRight(body, "\n") + "\n\n")
	}
	return b.String()
}
