package ship

import (
	"encoding/base64"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/brisk-containers/brisk/logs/spool"
)

// Metadata is the object metadata of an entry (x-amz-meta-brisk-*), each
// value encoded by EncodeMetaValue: a pod UID annotation may hold a newline
// or a NUL, which no HTTP header can carry.
func Metadata(m spool.Meta) map[string]string {
	md := map[string]string{
		"brisk-task-id":         url.QueryEscape(m.ID), // header values must be ASCII
		"brisk-run":             m.Run,
		"brisk-namespace":       m.Namespace,
		"brisk-exit-code":       strconv.Itoa(m.ExitCode),
		"brisk-started":         m.Started.UTC().Format(time.RFC3339),
		"brisk-stdout-bytes":    strconv.FormatInt(m.StdoutBytes, 10),
		"brisk-stderr-bytes":    strconv.FormatInt(m.StderrBytes, 10),
		"brisk-truncated-bytes": strconv.FormatInt(m.Truncated, 10),
		"brisk-complete":        strconv.FormatBool(m.Complete && m.State == spool.StateDone),
		"brisk-node":            m.Node,
	}
	if m.Pod != "" {
		md["brisk-pod"] = m.Pod
	}
	if m.Lost > 0 {
		md["brisk-lost-bytes"] = strconv.FormatInt(m.Lost, 10)
	}
	if !m.Exited.IsZero() {
		md["brisk-exited"] = m.Exited.UTC().Format(time.RFC3339)
	}
	if m.Usage != nil {
		// Header names: brisk-inodes-used for inodes_used.
		for _, f := range m.Usage.Fields() {
			md["brisk-"+strings.ReplaceAll(f.Name, "_", "-")] = strconv.FormatInt(f.Value, 10)
		}
	}
	for k, v := range m.Stats { // the task's cgroup summary, named by shim/taskstats
		md["brisk-"+k] = v
	}
	for k, v := range md {
		md[k] = EncodeMetaValue(v)
	}
	return md
}

// EncodeMetaValue makes any string a value S3 metadata keeps as it is: a
// value of printable ASCII, with no space at either end and no "=?", passes
// unchanged; anything else becomes RFC 2047 encoded words in base64
// ("=?UTF-8?B?...?=", space-separated, at most 75 bytes each), which is
// also how S3 itself returns metadata that is not ASCII. Any byte string
// survives, invalid UTF-8 and NUL included, and DecodeMetaValue gives it
// back. "=?" is encoded so that a value never reads as encoded by mistake.
func EncodeMetaValue(v string) string {
	if plainMetaValue(v) {
		return v
	}
	const maxBytes = 45 // 60 base64 characters: a word of 72 bytes
	var words []string
	for len(v) > 0 {
		n := 0
		for n < len(v) {
			_, size := utf8.DecodeRuneInString(v[n:])
			if n > 0 && n+size > maxBytes {
				break
			}
			n += size
		}
		words = append(words, "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte(v[:n]))+"?=")
		v = v[n:]
	}
	return strings.Join(words, " ")
}

func plainMetaValue(v string) bool {
	if strings.Contains(v, "=?") || strings.HasPrefix(v, " ") || strings.HasSuffix(v, " ") {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// DecodeMetaValue undoes EncodeMetaValue, and decodes the encoded words S3
// returns for metadata that is not ASCII; any other value is returned as it
// is.
func DecodeMetaValue(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := (&mime.WordDecoder{}).DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}
