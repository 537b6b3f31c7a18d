package ship

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// body is what one PUT reads, streamed from the spool file so that the
// shim's memory does not grow with the log and the spool holds no second
// copy of it. Uncompressed, it is the log file itself (after a dead shim's
// whole records, its tail segments), a sized, seekable *io.SectionReader
// that PutObject signs and rewinds and the upload manager reads in place.
// Compressed, it is the read end of a pipe that a goroutine gzips the log
// into: its size is known only at the end, so S3Store hands it to the upload
// manager, which holds one part (up to 5 MiB of compressed log) at a time.
type body struct {
	io.Reader
	log  *os.File
	pipe *io.PipeReader // gzip's output, when compressed
	done chan struct{}  // the gzip goroutine has returned
}

// Close stops the gzip goroutine, if any, and closes the log.
func (b *body) Close() error {
	if b.pipe != nil {
		_ = b.pipe.Close() // the goroutine's next write fails and it returns
		<-b.done
	}
	return b.log.Close()
}

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
	parts := []*io.SectionReader{io.NewSectionReader(log, 0, fi.Size())}
	if m.State != spool.StateDone {
		// Whatever the dead shim wrote whole is the log; a record cut
		// mid-write is dropped rather than shipped broken.
		size, err := wholeRecords(log, fi.Size())
		if err != nil {
			return nil, "", err
		}
		parts[0] = io.NewSectionReader(log, 0, size)
		// Past max_bytes the newest output is in the tail segments (at
		// most half of max_bytes, read into memory).
		tail, err := spool.ReadTail(dir)
		if err != nil {
			return nil, "", err
		}
		if len(tail) > 0 {
			tail = append(spool.Note(time.Now(), "the shim died before counting the output dropped between the head and the tail (max_bytes)"), tail...)
			parts = append(parts, io.NewSectionReader(bytes.NewReader(tail), 0, int64(len(tail))))
		}
	}
	whole := concat(parts...)
	if s.cfg.S3.Compression != config.CompressionGzip {
		return &body{Reader: whole, log: log}, "", nil
	}
	pr, pw := io.Pipe()
	b := &body{Reader: pr, log: log, pipe: pr, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, whole)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err) // nil: EOF for the reader
	}()
	return b, "gzip", nil
}

// concat reads parts end to end as one sized, seekable reader.
func concat(parts ...*io.SectionReader) *io.SectionReader {
	if len(parts) == 1 {
		return parts[0]
	}
	var size int64
	for _, p := range parts {
		size += p.Size()
	}
	return io.NewSectionReader(sections(parts), 0, size)
}

type sections []*io.SectionReader

func (s sections) ReadAt(p []byte, off int64) (n int, err error) {
	for _, part := range s {
		if len(p) == 0 {
			break
		}
		if off >= part.Size() {
			off -= part.Size()
			continue
		}
		m, err := part.ReadAt(p[:min(int64(len(p)), part.Size()-off)], off)
		n += m
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		p, off = p[m:], 0
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
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
