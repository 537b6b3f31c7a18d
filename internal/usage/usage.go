// Package usage is the one spelling of what a writable layer or a
// filesystem holds and may hold: bytes and inodes, used and limit. The
// shim's measure at exit, the snapshotter's uppers and its usage report,
// doctor and top all speak it, and it imports nothing of Brisk, so that
// every layer may.
package usage

// Usage is what an upper, or a filesystem, holds and may hold. Limits of
// zero mean none is known (a plain directory on a filesystem without
// quotas). The JSON names are those of the spool's meta.json, the log
// object's metadata and the usage event: keep them.
type Usage struct {
	InodesUsed  int64 `json:"inodes_used"`
	InodesLimit int64 `json:"inodes_limit"`
	BytesUsed   int64 `json:"bytes_used"`
	BytesLimit  int64 `json:"bytes_limit"`
}

// Field is one figure of a Usage under its name.
type Field struct {
	Name  string
	Value int64
}

// Fields lists the figures, named as in JSON; every rendering of a Usage
// (object metadata, event labels, log fields) derives its names from these.
func (u Usage) Fields() []Field {
	return []Field{
		{"inodes_used", u.InodesUsed},
		{"inodes_limit", u.InodesLimit},
		{"bytes_used", u.BytesUsed},
		{"bytes_limit", u.BytesLimit},
	}
}

// BytesFree is what is left of the byte limit.
func (u Usage) BytesFree() int64 { return u.BytesLimit - u.BytesUsed }

// InodesFree is what is left of the inode limit.
func (u Usage) InodesFree() int64 { return u.InodesLimit - u.InodesUsed }

// FreeBytesPercent is the share of bytes still free; 0 without a limit.
func (u Usage) FreeBytesPercent() float64 { return percent(u.BytesFree(), u.BytesLimit) }

// FreeInodesPercent is the share of inodes still free; 100 without a limit,
// as on filesystems without an inode table (they report zero inodes).
func (u Usage) FreeInodesPercent() float64 {
	if u.InodesLimit == 0 {
		return 100
	}
	return percent(u.InodesFree(), u.InodesLimit)
}

func percent(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}
