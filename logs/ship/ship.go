package ship

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/atomicfile"
	"github.com/brisk-containers/brisk/logs/spool"
)

// multipartThreshold: above it the upload manager splits the object.
const multipartThreshold = 5 << 20

// Store is where logs go. Get returns ErrNotFound (wrapped) for a key that
// holds nothing. Ship tells a Put that can never succeed from one that may
// later by the error's errno or S3 code (classify).
type Store interface {
	// Put stores body, read once to its end, as key. A body that is an
	// *io.SectionReader has a known size and can be read again.
	Put(ctx context.Context, key string, body io.Reader, meta map[string]string, contentEncoding string) error
	Get(ctx context.Context, key string) (body []byte, meta map[string]string, err error)
	List(ctx context.Context, prefix string, limit int) (keys []string, err error)
	String() string
}

// Shipper ships spool entries to a Store.
type Shipper struct {
	cfg   config.Logs
	store Store
}

// Opt configures a Shipper.
type Opt func(*Shipper)

// WithStore delivers to st instead of the store cfg names (tests, tools).
func WithStore(st Store) Opt { return func(s *Shipper) { s.store = st } }

// New builds the shipper for cfg: S3 when a bucket is set, local_dir else.
// It does not contact S3: a shim must start even while S3 is down.
func New(ctx context.Context, cfg config.Logs, opts ...Opt) (*Shipper, error) {
	s := &Shipper{cfg: cfg}
	for _, o := range opts {
		o(s)
	}
	switch {
	case s.store != nil:
	case cfg.S3.Bucket == "":
		s.store = &LocalStore{Dir: cfg.LocalDir}
	default:
		// The client is built at the first upload: a shim starts on the
		// path of a task's create, and the SDK's configuration costs
		// ~2 ms of CPU there, paid by every task of a burst at once.
		s.store = &S3Store{cfg: cfg.S3}
	}
	return s, nil
}

// Store returns where the shipper delivers.
func (s *Shipper) Store() Store { return s.store }

// KeyFor is the object key of one run of (namespace, id): every run has its
// own, so no run overwrites another and every retry of a run's upload
// writes the same one.
func (s *Shipper) KeyFor(namespace, id, run string) string {
	return Key(s.cfg.S3.Key, s.cfg.S3.Prefix, namespace, RunID(id, run))
}

// RunID is what {id} expands to for a run: the ID, "@", the run.
func RunID(id, run string) string { return id + "@" + run }

// Ship uploads the claimed entry and removes it from the spool. A live entry
// (its shim died) ships as incomplete. An error that no retry can cure is
// Permanent.
func (s *Shipper) Ship(ctx context.Context, c *spool.Claim) error {
	dir := c.Dir()
	m, err := spool.ReadMeta(dir)
	if err != nil {
		return metaError(err)
	}
	if m.Run == "" {
		m.Run = spool.LegacyRun(m)
	}
	body, encoding, err := s.openBody(dir, m)
	if errors.Is(err, fs.ErrNotExist) {
		return Permanent(err) // no log file: no retry makes one
	}
	if err != nil {
		return err
	}
	defer body.Close()
	if m.State != spool.StateDone {
		m.Complete = false
	}
	key := s.KeyFor(m.Namespace, m.ID, m.Run)
	if err := s.store.Put(ctx, key, body.Reader, Metadata(m), encoding); err != nil {
		return classify(fmt.Errorf("ship %s/%s run %s to %s: %w", m.Namespace, m.ID, m.Run, s.store, err))
	}
	return c.Remove()
}

// Metadata is the object metadata of an entry (x-amz-meta-brisk-*).
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
	return md
}

// S3Store stores objects in a bucket.
type S3Store struct {
	cfg config.S3

	once   sync.Once
	client *s3.Client
	err    error
}

// NewS3Store builds a client from aws-sdk-go-v2's default credential chain
// (environment, shared files, web identity, instance metadata): credentials
// never pass through Brisk's configuration or logs.
func NewS3Store(ctx context.Context, c config.S3) (*S3Store, error) {
	s := &S3Store{cfg: c}
	if _, err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// connect builds the client once; the SDK reads its configuration files
// here, not S3.
func (s *S3Store) connect(ctx context.Context) (*s3.Client, error) {
	s.once.Do(func() {
		awsCfg, err := awsconfig.LoadDefaultConfig(context.WithoutCancel(ctx), awsconfig.WithRegion(s.cfg.Region))
		if err != nil {
			s.err = fmt.Errorf("logs.s3: load AWS configuration: %w", err)
			return
		}
		s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if s.cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(s.cfg.Endpoint)
			}
			o.UsePathStyle = s.cfg.PathStyle
		})
	})
	return s.client, s.err
}

// Client exposes the S3 client of a store made by NewS3Store (briskctl
// bucket init, tests).
func (s *S3Store) Client() *s3.Client {
	c, _ := s.connect(context.Background())
	return c
}

// Bucket is the bucket name.
func (s *S3Store) Bucket() string { return s.cfg.Bucket }

func (s *S3Store) String() string { return "s3://" + s.cfg.Bucket }

// Put writes one object: a single PutObject for a typical task log, the
// upload manager's multipart upload above 5 MiB or when the size is not
// known (a gzip stream). A section reader is read in place; a stream is
// buffered one part at a time.
func (s *S3Store) Put(ctx context.Context, key string, body io.Reader, meta map[string]string, contentEncoding string) error {
	in := &s3.PutObjectInput{
		Bucket:      aws.String(s.cfg.Bucket),
		Key:         aws.String(key),
		Body:        body,
		ContentType: aws.String("text/plain; charset=utf-8"),
		Metadata:    meta,
	}
	if contentEncoding != "" {
		in.ContentEncoding = aws.String(contentEncoding)
	}
	client, err := s.connect(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	sized, ok := body.(*io.SectionReader)
	if ok && sized.Size() <= multipartThreshold {
		in.ContentLength = aws.Int64(sized.Size())
		_, err = client.PutObject(ctx, in)
		return err
	}
	_, err = manager.NewUploader(client, func(u *manager.Uploader) {
		if !ok {
			u.Concurrency = 1 // one buffered part at a time
		}
	}).Upload(ctx, in)
	return err
}

// deadline bounds one S3 call by logs.s3.request_timeout: an endpoint that
// accepts and never answers must not hold an entry's lock for ever.
func (s *S3Store) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, time.Duration(s.cfg.RequestTimeout))
}

// Get reads an object back, undoing gzip content encoding.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, map[string]string, error) {
	client, err := s.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if isNoSuchKey(err) {
		return nil, nil, fmt.Errorf("%s/%s: %w", s, key, ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, nil, err
	}
	if aws.ToString(out.ContentEncoding) == "gzip" {
		if body, err = gunzip(body); err != nil {
			return nil, nil, err
		}
	}
	return body, out.Metadata, nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// LocalStore writes objects as files under Dir with a .meta.json sidecar:
// the default on a node with no bucket configured.
type LocalStore struct{ Dir string }

func (l *LocalStore) String() string { return l.Dir }

// Put writes the file and its sidecar atomically.
func (l *LocalStore) Put(_ context.Context, key string, body io.Reader, meta map[string]string, contentEncoding string) error {
	path := filepath.Join(l.Dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	if contentEncoding != "" {
		meta = copyMap(meta)
		meta["content-encoding"] = contentEncoding
	}
	side, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(path+".meta.json", bytes.NewReader(side)); err != nil {
		return err
	}
	return writeAtomic(path, body)
}

// Get reads a file and its sidecar.
func (l *LocalStore) Get(_ context.Context, key string) ([]byte, map[string]string, error) {
	path := filepath.Join(l.Dir, filepath.FromSlash(key))
	body, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil, fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	if err != nil {
		return nil, nil, err
	}
	meta := map[string]string{}
	if side, err := os.ReadFile(path + ".meta.json"); err == nil {
		_ = json.Unmarshal(side, &meta)
	}
	if meta["content-encoding"] == "gzip" {
		if body, err = gunzip(body); err != nil {
			return nil, nil, err
		}
	}
	return body, meta, nil
}

func writeAtomic(path string, data io.Reader) error {
	return atomicfile.WriteFrom(path, data, 0o640, atomicfile.WithSync())
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
