package ship

import (
	"compress/gzip"
	"io"

	"github.com/brisk-containers/brisk/config"
	"github.com/brisk-containers/brisk/logs/spool"
)

// body is what one PUT reads, streamed from the spool files so that the
// shim's memory does not grow with the log and the spool holds no second
// copy of it. Uncompressed, it is the entry's log read in place
// (spool.OpenLog), a sized, seekable *io.SectionReader that PutObject signs
// and rewinds and the upload manager reads in place. Compressed, it is the
// read end of a pipe that a goroutine gzips the log into: its size is known
// only at the end, so S3Store hands it to the upload manager, which holds
// one part (up to 5 MiB of compressed log) at a time.
type body struct {
	io.Reader
	log  *spool.LogReader
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
func (s *Shipper) openBody(dir string, m spool.Meta) (*body, string, error) {
	log, err := spool.OpenLog(dir, m)
	if err != nil {
		return nil, "", err
	}
	if s.cfg.S3.Compression != config.CompressionGzip {
		return &body{Reader: log.SectionReader, log: log}, "", nil
	}
	pr, pw := io.Pipe()
	b := &body{Reader: pr, log: log, pipe: pr, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		zw := gzip.NewWriter(pw)
		_, err := io.Copy(zw, log)
		if err == nil {
			err = zw.Close()
		}
		pw.CloseWithError(err) // nil: EOF for the reader
	}()
	return b, "gzip", nil
}
