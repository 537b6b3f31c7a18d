package config

import (
	"fmt"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// ParseSize reads a byte size such as "512Mi", "1G" or "1048576", or a count
// with the same binary suffixes ("64Ki" inodes is 65536). Suffixes
// are binary (Ki, Mi, Gi and K, M, G alike), as tmpfs and Kubernetes use
// them. go-units does the parsing; we only refuse what it lets through that
// a limit must not be: negative and fractional byte counts.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("size must not be negative")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	// go-units reads "MiB" but not the Kubernetes spelling "Mi".
	if last := s[len(s)-1]; last == 'i' || last == 'I' {
		s += "B"
	}
	n, err := units.RAMInBytes(s)
	if err != nil {
		return 0, fmt.Errorf("not a size (want e.g. 512Mi, 1Gi or a byte count)")
	}
	if n < 0 {
		return 0, fmt.Errorf("size must not be negative")
	}
	return n, nil
}

// FormatSize renders n in the largest binary unit that divides it exactly, so
// what we print reads back to the same value.
func FormatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
