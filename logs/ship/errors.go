package ship

import (
	"encoding/json"
	"errors"
	"io/fs"

	"github.com/containerd/errdefs"
)

// ErrNotFound: no log stored under the key. Both stores return it (wrapped),
// and it is containerd's not-found kind.
var ErrNotFound = errors.Join(errors.New("log not found"), errdefs.ErrNotFound)

// permanentError is a failure to ship that no retry can cure: the entry
// itself is at fault (an unreadable meta.json, a key the store refuses
// whatever the time), not the store's availability.
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

// metaError classifies a failure to read an entry's meta.json: missing or
// undecodable is the entry's fault; an I/O error may pass.
func metaError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.Is(err, fs.ErrNotExist) || errors.As(err, &syntax) || errors.As(err, &typ) {
		return Permanent(err)
	}
	return err
}

// classify reads the S3 error codes that describe the object in any
// store's error; each store marks its own other permanent failures (Put).
func classify(err error) error { return s3Error(err) }

// s3PermanentCodes are S3 error codes that describe the object, not the
// service: the same request fails the same way every time.
var s3PermanentCodes = map[string]bool{
	"KeyTooLongError":   true,
	"InvalidArgument":   true,
	"EntityTooLarge":    true,
	"MetadataTooLarge":  true,
	"InvalidObjectName": true,
}

// s3Error classifies an S3 failure. Throttling, 5xx, timeouts, network
// errors, and also access and bucket errors, which an operator fixes, are
// transient.
func s3Error(err error) error {
	var api interface{ ErrorCode() string } // smithy.APIError
	if errors.As(err, &api) && s3PermanentCodes[api.ErrorCode()] {
		return Permanent(err)
	}
	return err
}

// isNoSuchKey tells S3's not-found answers (GET and HEAD).
func isNoSuchKey(err error) bool {
	var api interface{ ErrorCode() string }
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}
