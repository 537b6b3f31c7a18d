package config

import "fmt"

// Size is a byte count written either as a TOML integer (536870912) or as a
// string with a binary suffix ("512Mi").
type Size int64

// UnmarshalText lets go-toml accept the string form; the integer form is
// assigned directly because Size is an int64.
func (s *Size) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return fmt.Errorf("%q: %v", string(text), err)
	}
	*s = Size(n)
	return nil
}

// MarshalText writes the suffixed form.
func (s Size) MarshalText() ([]byte, error) { return []byte(FormatSize(int64(s))), nil }

func (s Size) String() string { return FormatSize(int64(s)) }

// Count is an object count such as an inode limit, as an integer or with a
// binary suffix ("64Ki").
type Count int64

// UnmarshalText accepts the string form.
func (c *Count) UnmarshalText(text []byte) error {
	n, err := ParseSize(string(text))
	if err != nil {
		return fmt.Errorf("%q: %v", string(text), err)
	}
	*c = Count(n)
	return nil
}
