package ship

import (
	"strings"
	"unicode"
)

// Key expands the object key template for a task. The id comes from the
// client (a container ID, or brisk.io/task-id) and may hold anything, so it is
// sanitised: no "." or ".." segment, no leading "/", no empty segment, no
// control characters. The original id travels in the object metadata.
func Key(template, prefix, namespace, id string) string {
	r := strings.NewReplacer("{prefix}", prefix, "{namespace}", sanitize(namespace), "{id}", sanitize(id))
	key := r.Replace(template)
	var segs []string
	for _, s := range strings.Split(key, "/") {
		switch s {
		case "", ".", "..":
			continue
		}
		segs = append(segs, s)
	}
	return strings.Join(segs, "/")
}

// sanitize keeps printable characters, including non-ASCII letters, and
// replaces control characters; "/" inside an id is kept as a separator only
// in that Key drops "..", "." and empty segments it would form.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '_'
		}
		return r
	}, s)
}
