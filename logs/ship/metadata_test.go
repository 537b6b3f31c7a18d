package ship

import (
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestMetaValueEncoding(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		plain       bool // stored as it is
	}{
		{"plain", "0a1b2c3d-0000-4000-8000-000000000001", true},
		{"inner space", "a b", true},
		{"empty", "", true},
		{"newline", "0a1b\n2c3d", false},
		{"NUL", "0a1b\x002c3d", false},
		{"tab", "a\tb", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII", "pod-é-日本", false},
		{"invalid UTF-8", "a\xff\xfeb", false},
		{"leading space", " a", false},
		{"trailing space", "a ", false},
		{"looks encoded", "=?UTF-8?B?aGk=?=", false},
		{"long", strings.Repeat("ü\n", 200), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := EncodeMetaValue(tc.value)
			if (enc == tc.value) != tc.plain {
				t.Errorf("EncodeMetaValue(%q) = %q; want it kept as it is: %t", tc.value, enc, tc.plain)
			}
			if !plainMetaValue(enc) && !strings.HasPrefix(enc, "=?UTF-8?B?") {
				t.Errorf("EncodeMetaValue(%q) = %q is neither plain nor encoded words", tc.value, enc)
			}
			if !httpguts.ValidHeaderFieldValue(enc) {
				t.Errorf("EncodeMetaValue(%q) = %q is no valid header value", tc.value, enc)
			}
			for _, w := range strings.Split(enc, " ") {
				if !tc.plain && len(w) > 75 {
					t.Errorf("encoded word %q is longer than RFC 2047's 75 bytes", w)
				}
			}
			if got := DecodeMetaValue(enc); got != tc.value {
				t.Errorf("DecodeMetaValue(EncodeMetaValue(%q)) = %q", tc.value, got)
			}
		})
	}
	// What S3 returns for metadata that is not ASCII, and values stored
	// by earlier versions, read as they should.
	for enc, want := range map[string]string{
		"=?UTF-8?Q?caf=C3=A9?=": "café",
		"plain-value":           "plain-value",
		"100%":                  "100%",
	} {
		if got := DecodeMetaValue(enc); got != want {
			t.Errorf("DecodeMetaValue(%q) = %q; want %q", enc, got, want)
		}
	}
}
