// Package awslog sends aws-sdk-go-v2's own log lines to containerd's logger.
//
// Left to itself the SDK writes to os.Stderr: "Skipped validation of
// multipart checksum" on every GET of a multipart object, "Response has no
// supported checksum" against stores that keep none. Under briskctl logs
// those lines land among the task's stderr lines, and in a shim they bypass
// containerd's log format and level. Every S3 client Brisk builds loads its
// configuration with Option.
package awslog

import (
	"context"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
	"github.com/containerd/log"
)

// Logger writes the SDK's messages to log.G of the operation's context at
// debug level, whatever the SDK's classification: they describe the SDK's
// internals (skipped checksums, retries), and Brisk reports every failure
// that matters in its own words.
type Logger struct{ ctx context.Context }

// Logf logs one SDK message.
func (l Logger) Logf(c logging.Classification, format string, v ...any) {
	ctx := l.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	log.G(ctx).WithField("sdk", "aws").WithField("classification", string(c)).Debugf(format, v...)
}

// WithContext is the logger of one operation (smithy's ContextLogger), so
// that its lines carry the caller's log fields.
func (l Logger) WithContext(ctx context.Context) logging.Logger { return Logger{ctx: ctx} }

// Option is the load option that installs Logger.
func Option() func(*awsconfig.LoadOptions) error { return awsconfig.WithLogger(Logger{}) }
