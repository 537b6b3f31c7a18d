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
		return &valueError{value: string(text), err: err}
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
		return &valueError{value: string(text), err: err}
	}
	*c = Count(n)
	return nil
}

// valueError is a value a key's type refused. The decoder does not always
// say which key it was decoding (a TOML float for a Size), so the value
// travels with the error for describeDecodeError to find the key by.
type valueError struct {
	value string
	err   error
}

func (e *valueError) Error() string { return fmt.Sprintf("%q: %v", e.value, e.err) }
func (e *valueError) Unwrap() error { return e.err }
