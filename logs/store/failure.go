package store

import (
	"context"
	"errors"
	"net"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Kinds of failure to ship, as an operator fixes them: the label of the
// failure metrics and the word doctor leads with.
const (
	FailCredentials = "credentials" // no credentials found, or they cannot be read
	FailAccess      = "access"      // the store refuses them: denied, unknown key, bad signature, expired
	FailBucket      = "bucket"      // no such bucket
	FailNetwork     = "network"     // the endpoint cannot be reached
	FailTimeout     = "timeout"     // request_timeout ran out
	FailThrottled   = "throttled"   // slow down, service unavailable
	FailEntry       = "entry"       // the entry itself cannot ship (quarantined)
	FailOther       = "other"
)

// FailureKind tells what kind of failure err is.
func FailureKind(err error) string {
	var signing *v4.SigningError
	var api interface{ ErrorCode() string }
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case err == nil:
		return ""
	case IsPermanent(err):
		return FailEntry
	case errors.As(err, &signing) || strings.Contains(err.Error(), "failed to retrieve credentials"):
		return FailCredentials
	case errors.As(err, &api):
		switch api.ErrorCode() {
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem":
			return FailAccess
		case "NoSuchBucket":
			return FailBucket
		case "SlowDown", "ServiceUnavailable", "RequestLimitExceeded", "Throttling", "ThrottlingException":
			return FailThrottled
		case "RequestTimeout":
			return FailTimeout
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return FailTimeout
	case errors.As(err, &opErr):
		return FailNetwork
	}
	return FailOther
}
