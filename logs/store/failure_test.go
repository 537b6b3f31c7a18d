package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go"
)

func TestFailureKind(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&v4.SigningError{Err: errors.New("failed to retrieve credentials: no EC2 IMDS role found")}, FailCredentials},
		{&smithy.GenericAPIError{Code: "InvalidAccessKeyId", Message: "The Access Key Id you provided does not exist"}, FailAccess},
		{&smithy.GenericAPIError{Code: "AccessDenied"}, FailAccess},
		{&smithy.GenericAPIError{Code: "NoSuchBucket"}, FailBucket},
		{&smithy.GenericAPIError{Code: "SlowDown"}, FailThrottled},
		{fmt.Errorf("put: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), FailNetwork},
		{fmt.Errorf("put: %w", context.DeadlineExceeded), FailTimeout},
		{Permanent(errors.New("bad meta.json")), FailEntry},
		{errors.New("something else"), FailOther},
	} {
		if got := FailureKind(tc.err); got != tc.want {
			t.Errorf("FailureKind(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
}
