package ship

import (
	"encoding/json"
	"errors"
	"io/fs"

	"github.com/brisk-containers/brisk/logs/store"
)

// metaError classifies a failure to read an entry's meta.json: missing or
// undecodable is the entry's fault; an I/O error may pass.
func metaError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.Is(err, fs.ErrNotExist) || errors.As(err, &syntax) || errors.As(err, &typ) {
		return store.Permanent(err)
	}
	return err
}
