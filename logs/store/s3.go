package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/net/http/httpguts"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/awslog"
)

// multipartThreshold: above it the upload manager splits the object.
const multipartThreshold = 5 << 20

// S3 stores objects in a bucket.
type S3 struct {
	cfg      config.S3
	requests *prometheus.CounterVec

	once   sync.Once
	client *s3.Client
	err    error
}

// S3Opt configures an S3 store.
type S3Opt func(*S3)

// WithRequests counts every request the store sends into c (see
// NewRequestCounter).
func WithRequests(c *prometheus.CounterVec) S3Opt { return func(s *S3) { s.requests = c } }

// NewS3 is the store of bucket c.Bucket. It does not contact S3 nor read
// the SDK's configuration: a shim must start even while S3 is down, and
// the SDK's setup costs ~2 ms of CPU, paid at the first request.
func NewS3(c config.S3, opts ...S3Opt) *S3 {
	s := &S3{cfg: c}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ConnectS3 is NewS3 with its client built from aws-sdk-go-v2's default
// credential chain (environment, shared files, web identity, instance
// metadata): credentials never pass through Brisk's configuration or logs.
func ConnectS3(ctx context.Context, c config.S3, opts ...S3Opt) (*S3, error) {
	s := NewS3(c, opts...)
	if _, err := s.connect(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// connect builds the client once; the SDK reads its configuration files
// here, not S3.
func (s *S3) connect(ctx context.Context) (*s3.Client, error) {
	s.once.Do(func() {
		awsCfg, err := awsconfig.LoadDefaultConfig(context.WithoutCancel(ctx),
			awsconfig.WithRegion(s.cfg.Region),
			awslog.Option(),
			awsconfig.WithHTTPClient(requestTimeoutClient(time.Duration(s.cfg.RequestTimeout))))
		if err != nil {
			s.err = fmt.Errorf("logs.s3: load AWS configuration: %w", err)
			return
		}
		s.client = s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if s.cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(s.cfg.Endpoint)
			}
			o.UsePathStyle = s.cfg.PathStyle
			if s.requests != nil {
				o.APIOptions = append(o.APIOptions, countRequests(s.requests))
			}
		})
	})
	return s.client, s.err
}

// requestTimeoutClient bounds each HTTP request by logs.s3.request_timeout,
// its body and its answer's included: an endpoint that accepts and never
// answers holds no entry's lock for ever. It bounds one request, not one
// call: a multipart upload is many requests (a part of 5 MiB each), and a
// deadline over all of them would fail every attempt of a log too large
// for the link's speed, retried for ever.
func requestTimeoutClient(d time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(d)
}

// Client exposes the S3 client of a store made by ConnectS3 (briskctl
// bucket init, tests).
func (s *S3) Client() *s3.Client {
	c, _ := s.connect(context.Background())
	return c
}

// Bucket is the bucket name.
func (s *S3) Bucket() string { return s.cfg.Bucket }

func (s *S3) String() string { return "s3://" + s.cfg.Bucket }

// Put writes one object: a single PutObject for a typical task log, the
// upload manager's multipart upload above 5 MiB or when the size is not
// known (a gzip stream). A section reader is read in place; a stream is
// buffered one part at a time.
func (s *S3) Put(ctx context.Context, key string, body io.Reader, meta map[string]string, contentEncoding string) error {
	// net/http refuses such a header before any request, every time.
	if err := checkMetadata(meta); err != nil {
		return Permanent(err)
	}
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
	sized, ok := body.(*io.SectionReader)
	if ok && sized.Size() <= multipartThreshold {
		in.ContentLength = aws.Int64(sized.Size())
		_, err = client.PutObject(ctx, in)
		return Classify(err)
	}
	_, err = manager.NewUploader(client, func(u *manager.Uploader) {
		if !ok {
			u.Concurrency = 1 // one buffered part at a time
		}
	}).Upload(ctx, in)
	return Classify(err)
}

// Get reads an object back, undoing gzip content encoding.
func (s *S3) Get(ctx context.Context, key string) ([]byte, map[string]string, error) {
	client, err := s.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
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

// List pages through ListObjectsV2 with its continuation tokens, 1,000
// keys a page at most (fewer if the store says so): one request a page.
func (s *S3) List(ctx context.Context, prefix, startAfter string, page func(keys []string, more bool) bool) error {
	client, err := s.connect(ctx)
	if err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	p := s3.NewListObjectsV2Paginator(client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		keys := make([]string, 0, len(out.Contents))
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !page(keys, p.HasMorePages()) {
			return nil
		}
	}
	return nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// checkMetadata refuses what no HTTP request can carry: the same PUT
// would fail in net/http before reaching the store, every time.
func checkMetadata(meta map[string]string) error {
	for k, v := range meta {
		if !httpguts.ValidHeaderFieldName("x-amz-meta-" + k) {
			return fmt.Errorf("object metadata key %q is not a valid HTTP header name: %w", k, errdefs.ErrInvalidArgument)
		}
		if !httpguts.ValidHeaderFieldValue(v) {
			return fmt.Errorf("object metadata %s = %q is not a valid HTTP header value: %w", k, v, errdefs.ErrInvalidArgument)
		}
	}
	return nil
}
