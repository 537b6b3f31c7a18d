package batch

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"
	"time"
)

// Keys of batch mode, under logs.s3.prefix:
//
//	batch/YYYYMMDD/HH/MMSS.mmm_NODE_RAND_HASHES.batch   a batch
//	batch-large/YYYYMMDD/HH/MMSS.mmm_NODE_RAND.gz        a log stored alone
//
// The time is the node's, when the batch was sealed: one listing of
// "batch/" with StartAfter a time finds every batch sealed since. HASHES
// is IDHash of each log's namespace and ID, HashLen characters each: the
// compactor indexes a batch from its key alone. A "/" is put between two
// hashes wherever a path segment of the key would pass MaxSegmentLen
// (ParseKey drops it): MinIO stores each segment as a file or directory
// name, and refuses a key with a longer one (XMinioInvalidObjectName).
const (
	Dir      = "batch/"
	LargeDir = "batch-large/"
	suffix   = ".batch"
	// HashLen is the characters of an ID hash: 50 bits of SHA-256 in
	// base32. Two IDs sharing one cost a lookup a batch's trailer read,
	// not a wrong answer.
	HashLen = 10
	// MaxKeyLen is S3's limit on a key's length.
	MaxKeyLen = 1024
	// MaxSegmentLen is the longest path segment ("/" to "/") of a key
	// MinIO takes: a file name's limit.
	MaxSegmentLen = 255
	timeLayout    = "20060102/15/0405.000"
)

var hashEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// IDHash is the hash of (namespace, id) that batch keys and the index
// carry.
func IDHash(namespace, id string) string {
	sum := sha256.Sum256([]byte(namespace + "\x00" + id))
	return hashEncoding.EncodeToString(sum[:8])[:HashLen]
}

// Key is what a batch key says.
type Key struct {
	Sealed time.Time
	Node   string
	Hashes []string
}

// NodeName makes a node name safe in a key: lowercase letters, digits,
// "-" and "."; anything else is "-".
func NodeName(node string) string {
	b := []byte(strings.ToLower(node))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "node"
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b)
}

// TimePrefix is the key of time t under prefix: keys of batches sealed at
// t or later sort after it.
func TimePrefix(prefix string, t time.Time) string {
	return prefix + Dir + t.UTC().Format(timeLayout)
}

// BatchKey is the key of a batch of node's, sealed at t, holding the logs
// whose ID hashes are hashes.
func BatchKey(prefix, node string, t time.Time, hashes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s_%s_%s_", TimePrefix(prefix, t), NodeName(node), nonce())
	seg := b.Len() - strings.LastIndex(b.String(), "/") - 1
	for _, h := range hashes {
		// Room is kept for the suffix in every segment, which may be
		// the last.
		if seg+len(h)+len(suffix) > MaxSegmentLen {
			b.WriteByte('/')
			seg = 0
		}
		b.WriteString(h)
		seg += len(h)
	}
	b.WriteString(suffix)
	return b.String()
}

// journalName is a file name for the batch under key: its time, node and
// nonce, which tell it from any other, without the prefix and the hashes.
func journalName(prefix, key string) string {
	parts := strings.SplitN(strings.TrimPrefix(key, prefix+Dir), "_", 4)
	return strings.ReplaceAll(strings.Join(parts[:min(3, len(parts))], "_"), "/", "_")
}

// LargeKey is the key of a log too large for a batch.
func LargeKey(prefix, node string, t time.Time) string {
	return fmt.Sprintf("%s%s%s_%s_%s.gz", prefix, LargeDir, t.UTC().Format(timeLayout), NodeName(node), nonce())
}

// MaxHashes is how many ID hashes fit in a batch key under prefix from a
// node: a batch is sealed once it holds that many logs.
func MaxHashes(prefix, node string) int {
	hashes := []string{}
	h := strings.Repeat("a", HashLen)
	for len(BatchKey(prefix, node, time.Time{}, append(hashes, h))) <= MaxKeyLen {
		hashes = append(hashes, h)
	}
	return len(hashes)
}

// ParseKey reads a batch key under prefix; false for any other key.
func ParseKey(prefix, key string) (Key, bool) {
	rest, ok := strings.CutPrefix(key, prefix+Dir)
	if !ok {
		return Key{}, false
	}
	rest, ok = strings.CutSuffix(rest, suffix)
	if !ok || len(rest) < len(timeLayout) {
		return Key{}, false
	}
	t, err := time.Parse(timeLayout, rest[:len(timeLayout)])
	if err != nil {
		return Key{}, false
	}
	parts := strings.Split(strings.ReplaceAll(rest[len(timeLayout):], "/", ""), "_")
	// "", NODE, NONCE, HASHES
	if len(parts) != 4 || parts[0] != "" || len(parts[3])%HashLen != 0 {
		return Key{}, false
	}
	k := Key{Sealed: t, Node: parts[1]}
	for h := parts[3]; h != ""; h = h[HashLen:] {
		k.Hashes = append(k.Hashes, h[:HashLen])
	}
	return k, true
}

// nonce tells apart two batches a node seals in one millisecond, and
// those of two daemons that share a node name by mistake.
func nonce() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hashEncoding.EncodeToString(b[:])
}
