package main

import "testing"

func TestReadable(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"brisk-cpu-ns", "758030204", " (758ms)"},
		{"brisk-io-pressure-some-us", "4725", " (4.7ms)"},
		{"brisk-memory-peak-bytes", "35389440", " (33.75MiB)"},
		{"brisk-memory-peak-bytes", "unavailable", ""},
		{"brisk-stdout-bytes", "36", ""},
		{"brisk-exit-code", "137", ""},
	} {
		if got := readable(tc.key, tc.value); got != tc.want {
			t.Errorf("readable(%s, %s) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}

func TestMetaValueDecoded(t *testing.T) {
	for _, tc := range []struct{ stored, want string }{
		{"0a1b2c3d", "0a1b2c3d"},
		{"=?UTF-8?B?MGExYgoyYzNk?=", `"0a1b\n2c3d"`},
		{"=?UTF-8?B?MGExYgAyYzNk?=", `"0a1b\x002c3d"`},
		{"=?UTF-8?Q?caf=C3=A9?=", "café"},
		{"=?UTF-8?B?YSBi?= =?UTF-8?B?IGM=?=", "a b c"},
	} {
		if got := metaValue(tc.stored); got != tc.want {
			t.Errorf("metaValue(%q) = %s, want %s", tc.stored, got, tc.want)
		}
	}
}
