package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/internal/awslog"
)

// s3CallTimeout bounds each S3 call, so that a dead endpoint is reported
// well within the check's own timeout.
const s3CallTimeout = 4 * time.Second

// s3Check runs its three probes in order: the lifecycle rule and the test
// write mean nothing when the bucket cannot be reached.
var s3Check = Check{
	Name: "s3/bucket",
	Hint: "S3 did not answer: check logs.s3.endpoint and the network; logs wait in spool_dir meanwhile",
	Run: func(ctx context.Context, n *Node) []Result {
		if n.ConfigErr != nil {
			return needConfig(n)
		}
		c := n.Config.Logs.S3
		if c.Bucket == "" {
			return one(Info, "logs.s3.bucket is empty: logs go to local_dir "+n.Config.Logs.LocalDir, "set [logs.s3] bucket to ship logs off the node; briskctl gc keeps local_dir to 24 h meanwhile")
		}
		client, creds, err := n.s3Client(ctx, c)
		if err != nil {
			return one(Fail, err.Error(), "give the node S3 credentials: an instance role, or /etc/brisk/s3.env read by brisk-logd")
		}
		where := c.Bucket
		if c.Endpoint != "" {
			where += " at " + c.Endpoint
		}
		bucketRes := headBucket(ctx, client, c.Bucket, where, creds)
		if bucketRes.Status != Pass {
			return []Result{bucketRes}
		}
		res := []Result{bucketRes, lifecycle(ctx, client, c)}
		if n.noWrite {
			return append(res, Result{Check: "s3/write", Status: Skip, Found: "--no-write: no test object written"})
		}
		return append(res, testWrite(ctx, client, c))
	},
}

// s3Client builds a client as brisk-logd does (endpoint, path style,
// region), with briskctl's credentials, or containerd's environment when
// briskctl's own has none (older nodes kept them there). Whether brisk-logd's
// own credentials work is logd/running's: it asks brisk-logd.
func (n *Node) s3Client(ctx context.Context, c config.S3) (*s3.Client, string, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(c.Region), awslog.Option()}
	creds := "briskctl's AWS credential chain"
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		if srv, err := n.Server(ctx); err == nil && srv.Env["AWS_ACCESS_KEY_ID"] != "" {
			opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(
				srv.Env["AWS_ACCESS_KEY_ID"], srv.Env["AWS_SECRET_ACCESS_KEY"], srv.Env["AWS_SESSION_TOKEN"])))
			creds = "containerd's environment"
		}
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, "", fmt.Errorf("load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		// One attempt: a diagnosis wants the first error, not a retry storm.
		o.RetryMaxAttempts = 1
	})
	return client, creds, nil
}

func headBucket(ctx context.Context, client *s3.Client, bucket, where, creds string) Result {
	cctx, cancel := context.WithTimeout(ctx, s3CallTimeout)
	defer cancel()
	_, err := client.HeadBucket(cctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	r := Result{Check: "s3/bucket"}
	switch code := apiCode(err); {
	case err == nil:
		r.Status, r.Found = Pass, fmt.Sprintf("bucket %s reachable with %s", where, creds)
	case code == "NotFound" || code == "NoSuchBucket":
		r.Status, r.Found, r.Fix = Fail, fmt.Sprintf("bucket %s does not exist", where), "briskctl bucket init creates it with a 1-day expiry"
	case code == "Forbidden" || code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		r.Status, r.Found, r.Fix = Fail, fmt.Sprintf("bucket %s refuses %s: %s", where, creds, code), "grant the node's role s3:ListBucket, s3:PutObject, s3:GetObject on the bucket, or fix /etc/brisk/s3.env"
	default:
		r.Status, r.Found, r.Fix = Fail, fmt.Sprintf("S3 unreachable for bucket %s: %v", where, err), "check logs.s3.endpoint and the network; logs wait in spool_dir meanwhile and briskctl flush ships them later"
	}
	return r
}

func lifecycle(ctx context.Context, client *s3.Client, c config.S3) Result {
	cctx, cancel := context.WithTimeout(ctx, s3CallTimeout)
	defer cancel()
	r := Result{Check: "s3/lifecycle"}
	out, err := client.GetBucketLifecycleConfiguration(cctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(c.Bucket)})
	if apiCode(err) == "NoSuchLifecycleConfiguration" {
		r.Status, r.Found, r.Fix = Warn, fmt.Sprintf("bucket %s has no lifecycle rule: logs are kept forever", c.Bucket), "briskctl bucket init adds a rule expiring the prefix after 1 day"
		return r
	}
	if err != nil {
		r.Status, r.Found, r.Fix = Fail, fmt.Sprintf("read the lifecycle of %s: %v", c.Bucket, err), "grant s3:GetLifecycleConfiguration to check retention"
		return r
	}
	for _, rule := range out.Rules {
		if rule.Status != types.ExpirationStatusEnabled || rule.Expiration == nil || aws.ToInt32(rule.Expiration.Days) <= 0 {
			continue
		}
		if p, ok := rulePrefix(rule); ok && strings.HasPrefix(c.Prefix, p) {
			r.Status, r.Found = Pass, fmt.Sprintf("rule %q expires %q after %d day(s) (prefix %q)", aws.ToString(rule.ID), p+"*", aws.ToInt32(rule.Expiration.Days), c.Prefix)
			return r
		}
	}
	r.Status, r.Found, r.Fix = Warn, fmt.Sprintf("none of the %d lifecycle rules of %s expires prefix %q: logs are kept forever", len(out.Rules), c.Bucket, c.Prefix), "briskctl bucket init adds a rule expiring the prefix after 1 day"
	return r
}

// rulePrefix is the key prefix a rule applies to; ok is false for rules
// narrowed by tags or sizes, which do not cover every log.
func rulePrefix(rule types.LifecycleRule) (string, bool) {
	f := rule.Filter
	switch {
	case f == nil:
		return aws.ToString(rule.Prefix), true //nolint:staticcheck // the deprecated form still exists in buckets
	case f.Tag != nil || f.And != nil || f.ObjectSizeGreaterThan != nil || f.ObjectSizeLessThan != nil:
		return "", false
	}
	return aws.ToString(f.Prefix), true
}

func testWrite(ctx context.Context, client *s3.Client, c config.S3) Result {
	host, _ := os.Hostname()
	key := fmt.Sprintf("%s.brisk-doctor/%s-%d", c.Prefix, host, time.Now().UnixNano())
	r := Result{Check: "s3/write"}
	cctx, cancel := context.WithTimeout(ctx, s3CallTimeout)
	defer cancel()
	if _, err := client.PutObject(cctx, &s3.PutObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("briskctl doctor\n"))}); err != nil {
		r.Status, r.Found, r.Fix = Fail, fmt.Sprintf("PUT %s/%s: %v", c.Bucket, key, err), "grant the node's role s3:PutObject under the prefix: the shims cannot ship logs"
		return r
	}
	dctx, cancel := context.WithTimeout(ctx, s3CallTimeout)
	defer cancel()
	if _, err := client.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: aws.String(c.Bucket), Key: aws.String(key)}); err != nil {
		r.Status, r.Found, r.Fix = Warn, fmt.Sprintf("PUT worked, DELETE %s/%s failed: %v", c.Bucket, key, err), "delete the test object by hand; the lifecycle rule removes it otherwise"
		return r
	}
	r.Status, r.Found = Pass, fmt.Sprintf("PUT and DELETE of %s/%s worked", c.Bucket, key)
	return r
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
