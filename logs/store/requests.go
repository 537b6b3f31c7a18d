package store

import (
	"context"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	"github.com/prometheus/client_golang/prometheus"
)

// Purposes of S3 requests: the purpose label of brisk_s3_requests_total.
const (
	PurposeTask  = "task"  // a log stored as its own object, one per run
	PurposeBatch = "batch" // a batch of logs, or a log too large for one
	PurposeIndex = "index" // the index by ID: written by the compactor, read by lookups
	PurposeLease = "lease" // the compactor's lease
	PurposeList  = "list"  // listings: new batches, runs of an ID
	PurposeRead  = "read"  // reading a log back
	PurposeProbe = "probe" // finding out at start what the store can do
	PurposeOther = "other"
)

type purposeKey struct{}

// WithPurpose labels the S3 requests made with ctx.
func WithPurpose(ctx context.Context, purpose string) context.Context {
	return context.WithValue(ctx, purposeKey{}, purpose)
}

// PurposeOf is the purpose ctx carries, or PurposeOther.
func PurposeOf(ctx context.Context) string {
	if p, ok := ctx.Value(purposeKey{}).(string); ok {
		return p
	}
	return PurposeOther
}

// NewRequestCounter is brisk_s3_requests_total, by S3 operation and
// purpose: one count per HTTP request sent, retries and each part of a
// multipart upload included, as the store bills them.
func NewRequestCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "brisk_s3_requests_total",
		Help: "S3 requests sent, by operation (PutObject, GetObject, ListObjectsV2, ...) and purpose (task, batch, index, lease, list, read, probe): what the store bills.",
	}, []string{"op", "purpose"})
}

// countRequests adds a middleware after the SDK's retry loop, so that it
// sees every attempt, that counts each request into c.
func countRequests(c *prometheus.CounterVec) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("BriskCountRequests",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				c.WithLabelValues(awsmiddleware.GetOperationName(ctx), PurposeOf(ctx)).Inc()
				return next.HandleFinalize(ctx, in)
			}), middleware.After)
	}
}
