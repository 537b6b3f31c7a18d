package config

import (
	"fmt"
	"time"
)

// Upload modes of [logs] upload.
const (
	// UploadTask stores each run's log as its own object: one PUT a task.
	UploadTask = "task"
	// UploadBatch stores the logs of one node's tasks over an interval in
	// one object, indexed by ID in the bucket ([logs.batch]).
	UploadBatch = "batch"
)

// Batch is the [logs.batch] section: how brisk-logd batches logs under
// upload = "batch".
type Batch struct {
	// Interval is how long a batch collects finished logs before it is
	// stored: a log is stored at most this long after its task's end.
	Interval Duration `toml:"interval"`
	// MaxBytes stores a batch sooner, once its compressed logs reach it.
	MaxBytes Size `toml:"max_bytes"`
	// StandaloneOver: a log whose compressed size is over it is stored as
	// its own object, which the batch points to.
	StandaloneOver Size `toml:"standalone_over"`
}

// Bounds of [logs.batch].
const (
	MinBatchInterval = time.Second
	MaxBatchInterval = 5 * time.Minute
	MinBatchMaxBytes = 64 << 10
)

// DefaultBatch: a batch every 10 s, or at 16 MiB; logs over 4 MiB
// compressed alone.
func DefaultBatch() Batch {
	return Batch{Interval: Duration(10 * time.Second), MaxBytes: 16 << 20, StandaloneOver: 4 << 20}
}

// validateUpload checks logs.upload and [logs.batch].
func (l *Logs) validateUpload() error {
	switch l.Upload {
	case UploadTask:
		return nil
	case UploadBatch:
	default:
		return invalid("logs.upload", l.Upload, `must be "task" (one object per run) or "batch" (one object per node and logs.batch.interval, indexed by ID)`)
	}
	if l.S3.Bucket == "" {
		return invalid("logs.upload", l.Upload, "needs logs.s3.bucket: batch mode stores its index in the bucket, with conditional writes")
	}
	b := l.Batch
	if d := time.Duration(b.Interval); d < MinBatchInterval || d > MaxBatchInterval {
		return invalid("logs.batch.interval", d.String(), fmt.Sprintf("must be between %v and %v", MinBatchInterval, MaxBatchInterval))
	}
	if b.MaxBytes < MinBatchMaxBytes {
		return invalid("logs.batch.max_bytes", int64(b.MaxBytes), fmt.Sprintf("must be at least %d (64Ki)", MinBatchMaxBytes))
	}
	if b.StandaloneOver <= 0 || b.StandaloneOver > b.MaxBytes {
		return invalid("logs.batch.standalone_over", int64(b.StandaloneOver), fmt.Sprintf("must be positive and at most logs.batch.max_bytes (%d)", int64(b.MaxBytes)))
	}
	return nil
}
