package ship

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// body is what one PUT reads: sized and seekable, so that S3 signs and
// retries it from the file, and the shim's memory does not grow with the
// log. A finished, uncompressed entry ships its log file as it lies in the
// spool. A compressed one, or one whose shim died (whole records, then its
// tail segments), is streamed into an unnamed file beside it in the spool,
// where the log's bytes live anyway: PutObject over plain http needs a body
// it can hash and rewind, and the upload manager would buffer each 5 MiB
// part of a pipe in memory, per shim retrying.
type body struct {
	*io.SectionReader
	f *os.File
}

func (b *body) Close() error { return b.f.Close() }

// openBody opens the PUT body of the entry in dir, and its content encoding.
func (s *Shipper) openBody(dir string, m spool.Meta) (_ *body, encoding string, retErr error) {
	log, err := os.Open(filepath.Join(dir, spool.LogFile))
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if retErr != nil {
			log.Close()
		}
	}()
	fi, err := log.Stat()
	if err != nil {
		return nil, "", err
	}
	size := fi.Size()
	var tail []byte
	if m.State != spool.StateDone {
		// Whatever the dead shim wrote whole is the log; a record cut
		// mid-write is dropped rather than shipped broken.
		if size, err = wholeRecords(log, size); err != nil {
			return nil, "", err
		}
		// Past max_bytes the newest output is in the tail segments.
		if tail, err = spool.ReadTail(dir); err != nil {
			return nil, "", err
		}
		if len(tail) > 0 {
			tail = append(spool.Note(time.Now(), "the shim died before counting the output dropped between the head and the tail (max_bytes)"), tail...)
		}
	}
	gz := s.cfg.S3.Compression == config.CompressionGzip
	if !gz && len(tail) == 0 {
		return &body{io.NewSectionReader(log, 0, size), log}, "", nil
	}
	defer log.Close()
	tmp, err := os.CreateTemp(dir, ".upload-")
	if err != nil {
		return nil, "", err
	}
	// Unlinked at once: it lives as long as the open file, also when the
	// shim dies mid-upload.
	_ = os.Remove(tmp.Name())
	var w io.Writer = tmp
	var zw *gzip.Writer
	if gz {
		zw, encoding = gzip.NewWriter(tmp), "gzip"
		w = zw
	}
	_, err = io.Copy(w, io.MultiReader(io.NewSectionReader(log, 0, size), bytes.NewReader(tail)))
	if err == nil && zw != nil {
		err = zw.Close()
	}
	var n int64
	if err == nil {
		n, err = tmp.Seek(0, io.SeekCurrent)
	}
	if err != nil {
		tmp.Close()
		return nil, "", fmt.Errorf("prepare upload of %s: %w", dir, err)
	}
	return &body{io.NewSectionReader(tmp, 0, n), tmp}, encoding, nil
}

// wholeRecords is the length of f's first size bytes without the record a
// dead shim left cut short at the end, read backwards a block at a time.
func wholeRecords(f io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 32<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		n, err := f.ReadAt(buf[:end-start], start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
