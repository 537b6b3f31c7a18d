package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Create is PutObject with If-None-Match: *. S3 answers 412 when an object
// is there, and 409 ConditionalRequestConflict when another conditional
// write to the key is in flight: the first is ErrExists, the second a
// transient error to retry.
func (s *S3) Create(ctx context.Context, key string, body []byte) (string, error) {
	return s.putIf(ctx, key, body, func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") }, ErrExists)
}

// Replace is PutObject with If-Match: etag. S3 answers 412 when another
// version is stored, and 404 when none is: both are ErrConflict.
func (s *S3) Replace(ctx context.Context, key string, body []byte, etag string) (string, error) {
	return s.putIf(ctx, key, body, func(in *s3.PutObjectInput) { in.IfMatch = aws.String(etag) }, ErrConflict)
}

func (s *S3) putIf(ctx context.Context, key string, body []byte, cond func(*s3.PutObjectInput), failed error) (string, error) {
	client, err := s.connect(ctx)
	if err != nil {
		return "", err
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String("application/octet-stream"),
	}
	cond(in)
	out, err := client.PutObject(ctx, in)
	switch {
	case err == nil:
		return aws.ToString(out.ETag), nil
	case httpStatus(err) == http.StatusPreconditionFailed, failed == ErrConflict && isNoSuchKey(err):
		return "", fmt.Errorf("%s/%s: %w", s, key, failed)
	}
	return "", Classify(err)
}

// ReadRange is GetObject with a Range header.
func (s *S3) ReadRange(ctx context.Context, key string, offset, length int64) (Object, error) {
	r := fmt.Sprintf("bytes=%d-%d", offset, offset+length-1)
	if offset < 0 {
		r = fmt.Sprintf("bytes=%d", offset)
	}
	return s.read(ctx, key, r)
}

// Read is GetObject, the body as stored.
func (s *S3) Read(ctx context.Context, key string) (Object, error) { return s.read(ctx, key, "") }

func (s *S3) read(ctx context.Context, key, rng string) (Object, error) {
	client, err := s.connect(ctx)
	if err != nil {
		return Object{}, err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)}
	if rng != "" {
		in.Range = aws.String(rng)
	}
	out, err := client.GetObject(ctx, in)
	if isNoSuchKey(err) {
		return Object{}, fmt.Errorf("%s/%s: %w", s, key, ErrNotFound)
	}
	if err != nil {
		return Object{}, err
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		return Object{}, err
	}
	o := Object{Body: body, ETag: aws.ToString(out.ETag), Size: int64(len(body))}
	// Content-Range: bytes FIRST-LAST/SIZE gives the whole object's size.
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if i := strings.LastIndexByte(cr, '/'); i >= 0 {
			if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
				o.Size = n
			}
		}
	}
	return o, nil
}

// Delete is DeleteObject.
func (s *S3) Delete(ctx context.Context, key string) error {
	client, err := s.connect(ctx)
	if err != nil {
		return err
	}
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	return err
}

// httpStatus is the HTTP status of an SDK error's response, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if err != nil && errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}
