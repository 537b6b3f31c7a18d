package config

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/errdefs"
)

// sizeSyntax is a whole number and an optional unit: K, M, G, T, P or E,
// with or without "i" and "B", in any case ("512Mi", "1G", "64KiB").
var sizeSyntax = regexp.MustCompile(`^([0-9]+)(\.[0-9]*)? ?([kKmMgGtTpPeE]?)[iI]?[bB]?$`)

// Why a size is refused; ParseSize wraps them with errdefs.ErrInvalidArgument.
var (
	ErrSizeSyntax   = errors.New("not a size (want e.g. 512Mi, 1Gi or a byte count)")
	ErrSizeNegative = errors.New("must not be negative")
	ErrSizeFraction = errors.New("must be a whole number (fractions are refused: write 1536Mi, not 1.5Gi)")
	ErrSizeOverflow = errors.New("overflows: larger than 8Ei-1 bytes")
)

// ParseSize reads a byte size such as "512Mi", "1G" or "1048576", or a count
// with the same binary suffixes ("64Ki" inodes is 65536). Suffixes
// are binary (Ki, Mi, Gi and K, M, G alike), as tmpfs and Kubernetes use
// them. A limit is a whole number of bytes: negative sizes, fractions and
// sizes past int64 are refused rather than truncated or wrapped around.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, sizeError{ErrSizeNegative}
	}
	m := sizeSyntax.FindStringSubmatch(s)
	if m == nil {
		return 0, sizeError{ErrSizeSyntax}
	}
	if m[2] != "" {
		return 0, sizeError{ErrSizeFraction}
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, sizeError{ErrSizeOverflow}
	}
	shift := 0
	if m[3] != "" {
		shift = 10 * (strings.Index("KMGTPE", strings.ToUpper(m[3])) + 1)
	}
	if n > math.MaxInt64>>shift {
		return 0, sizeError{ErrSizeOverflow}
	}
	return n << shift, nil
}

// sizeError is one of the reasons above, of kind errdefs.ErrInvalidArgument.
type sizeError struct{ why error }

func (e sizeError) Error() string   { return e.why.Error() }
func (e sizeError) Unwrap() []error { return []error{e.why, errdefs.ErrInvalidArgument} }

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
