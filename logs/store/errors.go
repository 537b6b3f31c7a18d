package store

import (
	"errors"

	"github.com/containerd/errdefs"
)

// ErrNotFound: no object is stored under the key. Both stores return it
// (wrapped), and it is containerd's not-found kind.
var ErrNotFound = errors.Join(errors.New("log not found"), errdefs.ErrNotFound)

// ErrExists: Create found an object under its key already.
var ErrExists = errors.Join(errors.New("object exists"), errdefs.ErrAlreadyExists)

// ErrConflict: Replace found another version than the one it was to
// replace (or none).
var ErrConflict = errors.Join(errors.New("object changed since it was read"), errdefs.ErrFailedPrecondition)

// permanentError is a failure no retry can cure: the object itself is at
// fault (a key the store refuses whatever the time), not the store's
// availability.
type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as one no retry can cure.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, is permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// s3PermanentCodes are S3 error codes that describe the object, not the
// service: the same request fails the same way every time.
var s3PermanentCodes = map[string]bool{
	"KeyTooLongError":   true,
	"InvalidArgument":   true,
	"EntityTooLarge":    true,
	"MetadataTooLarge":  true,
	"InvalidObjectName": true,
}

// Classify reads the S3 error codes that describe the object in any
// store's error, marking them Permanent. Throttling, 5xx, timeouts,
// network errors, and also access and bucket errors, which an operator
// fixes, are transient.
func Classify(err error) error {
	if s3PermanentCodes[errorCode(err)] {
		return Permanent(err)
	}
	return err
}

// errorCode is the S3 error code in err (smithy.APIError), or "".
func errorCode(err error) string {
	var api interface{ ErrorCode() string }
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// isNoSuchKey tells S3's not-found answers (GET and HEAD).
func isNoSuchKey(err error) bool {
	c := errorCode(err)
	return c == "NoSuchKey" || c == "NotFound"
}

// IsNotImplemented tells a store's refusal of a feature it lacks (501
// NotImplemented): a PUT with If-None-Match to a store that does not know
// conditional writes.
func IsNotImplemented(err error) bool {
	return errorCode(err) == "NotImplemented" || httpStatus(err) == 501
}
