package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Spool fsync policies; any Go duration ("1s") is an interval policy.
const (
	FsyncNever  = "never"
	FsyncExit   = "exit"
	FsyncAlways = "always"
)

// What the shim does with output for a consumer (ctr, CRI's log writer, an
// attach) that reads slower than the task writes.
const (
	// SlowConsumerWait makes the task wait for its consumer, as under runc:
	// the pipe applies backpressure and the consumer gets every byte.
	SlowConsumerWait = "wait"
	// SlowConsumerDrop never makes the task wait: past a bounded queue the
	// consumer's copy of the output is dropped and counted (the spool keeps
	// it).
	SlowConsumerDrop = "drop"
)

// Compression of shipped logs.
const (
	CompressionNone = "none"
	CompressionGzip = "gzip"
)

// Logs is the [logs] section read by containerd-shim-brisk-v2 and briskctl.
type Logs struct {
	// SpoolDir holds each running task's log; tmpfs on most hosts.
	SpoolDir string `toml:"spool_dir"`
	// Fsync is "never", "exit", "always" or an interval such as "1s".
	Fsync string `toml:"fsync"`
	// MaxBytes bounds what is kept per task; past it the head and the tail
	// are kept and the gap is recorded.
	MaxBytes Size `toml:"max_bytes"`
	// UploadTimeout bounds how long a shim stays after its task to upload.
	UploadTimeout Duration `toml:"upload_timeout"`
	// LocalDir receives logs when no bucket is configured.
	LocalDir string `toml:"local_dir"`
	// SlowConsumer is "wait" (runc's backpressure) or "drop".
	SlowConsumer string `toml:"slow_consumer"`
	// Upload is "task" (one object per run) or "batch" ([logs.batch]).
	Upload string  `toml:"upload"`
	Batch  Batch   `toml:"batch"`
	S3     S3      `toml:"s3"`
	API    LogsAPI `toml:"api"`
}

// S3 is the [logs.s3] section. Credentials are deliberately absent: they come
// from aws-sdk-go-v2's default chain and never pass through this file.
type S3 struct {
	Bucket      string `toml:"bucket"`
	Prefix      string `toml:"prefix"`
	Region      string `toml:"region"`
	Endpoint    string `toml:"endpoint"`
	PathStyle   bool   `toml:"path_style"`
	Compression string `toml:"compression"`
	// Key is the object key template; {prefix}, {namespace} and {id} expand.
	Key string `toml:"key"`
	// RequestTimeout bounds each S3 request (a PUT or one part of a
	// multipart upload, a read, a page of a listing), not a whole upload.
	RequestTimeout Duration `toml:"request_timeout"`
}

// The shortest fsync interval and upload_timeout accepted. An interval
// shorter than MinFsyncInterval is "always" with a timer's cost on top; an
// upload_timeout shorter than MinUploadTimeout leaves every log to the
// retrier, as no PUT completes in it.
const (
	MinFsyncInterval = 10 * time.Millisecond
	MinUploadTimeout = time.Second
)

// DefaultKeyTemplate is the object key layout, also used under local_dir.
const DefaultKeyTemplate = "{prefix}{namespace}/{id}.log"

// DefaultLogs returns the [logs] defaults: spool on /run (tmpfs), one fsync at
// exit, 16Mi per task, 30 s to upload, local files when no bucket is set, and
// a task that waits for a slow consumer as under runc.
func DefaultLogs() Logs {
	return Logs{
		SpoolDir:      "/run/brisk/spool",
		Fsync:         FsyncExit,
		MaxBytes:      16 << 20,
		UploadTimeout: Duration(30 * time.Second),
		LocalDir:      "/var/lib/brisk/logs",
		SlowConsumer:  SlowConsumerWait,
		Upload:        UploadTask,
		Batch:         DefaultBatch(),
		API:           DefaultLogsAPI(),
		S3: S3{
			Region:      "us-east-1",
			Compression: CompressionNone,
			Key:         DefaultKeyTemplate,
			// Time to upload max_bytes over a slow link, not to wait
			// on an endpoint that never answers.
			RequestTimeout: Duration(time.Minute),
		},
	}
}

// FsyncInterval returns the interval of an interval policy, or 0.
func (l *Logs) FsyncInterval() time.Duration {
	d, err := time.ParseDuration(l.Fsync)
	if err != nil {
		return 0
	}
	return d
}

// Validate checks the section; every error names the key and its value.
func (l *Logs) Validate() error {
	if l.SpoolDir == "" || !filepath.IsAbs(l.SpoolDir) {
		return invalid("logs.spool_dir", l.SpoolDir, "must be an absolute path")
	}
	switch l.Fsync {
	case FsyncNever, FsyncExit, FsyncAlways:
	default:
		d, err := time.ParseDuration(l.Fsync)
		if err != nil || d <= 0 {
			return invalid("logs.fsync", l.Fsync, `must be "never", "exit", "always" or a positive interval such as "1s"`)
		}
		if d < MinFsyncInterval {
			return invalid("logs.fsync", l.Fsync, fmt.Sprintf(`an interval must be at least %v (use "always" to sync every write)`, MinFsyncInterval))
		}
	}
	if l.MaxBytes <= 0 {
		return invalid("logs.max_bytes", int64(l.MaxBytes), "must be positive")
	}
	if time.Duration(l.UploadTimeout) < MinUploadTimeout {
		return invalid("logs.upload_timeout", time.Duration(l.UploadTimeout).String(), fmt.Sprintf("must be at least %v", MinUploadTimeout))
	}
	if l.LocalDir == "" || !filepath.IsAbs(l.LocalDir) {
		return invalid("logs.local_dir", l.LocalDir, "must be an absolute path")
	}
	switch l.SlowConsumer {
	case SlowConsumerWait, SlowConsumerDrop:
	default:
		return invalid("logs.slow_consumer", l.SlowConsumer, `must be "wait" (the task waits for its consumer, as under runc) or "drop"`)
	}
	if err := l.API.Validate(); err != nil {
		return err
	}
	if err := l.S3.Validate(); err != nil {
		return err
	}
	return l.validateUpload()
}

// Validate checks [logs.s3].
func (s *S3) Validate() error {
	switch s.Compression {
	case CompressionNone, CompressionGzip:
	default:
		return invalid("logs.s3.compression", s.Compression, `must be "none" or "gzip"`)
	}
	if s.Endpoint != "" {
		u, err := url.Parse(s.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalid("logs.s3.endpoint", s.Endpoint, "must be an http:// or https:// URL")
		}
	}
	if !strings.Contains(s.Key, "{id}") {
		return invalid("logs.s3.key", s.Key, "must contain {id}")
	}
	if strings.HasPrefix(s.Prefix, "/") {
		return invalid("logs.s3.prefix", s.Prefix, "must not start with /")
	}
	if time.Duration(s.RequestTimeout) < time.Second {
		return invalid("logs.s3.request_timeout", time.Duration(s.RequestTimeout).String(), "must be at least 1s")
	}
	return nil
}

// Warnings are settings that are valid but likely not what was meant, each
// naming the keys and values; the binaries log them when they read the file.
func (s *S3) Warnings() []string {
	var w []string
	if s.Prefix != "" && !strings.Contains(s.Key, "{prefix}") {
		w = append(w, fmt.Sprintf("logs.s3.key = %q has no {prefix}: logs.s3.prefix = %q is not used in object keys", s.Key, s.Prefix))
	}
	return w
}

// Duration is a time.Duration written as a string ("30s").
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("%q: not a duration (want e.g. 30s)", string(text))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the string form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
