package layercopy

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyData copies the first size bytes of in to out, only the data extents,
// so holes stay holes. A file that shrinks meanwhile is copied up to its new
// end, with the rest a hole.
func copyData(out, in *os.File, size int64) error {
	if err := out.Truncate(size); err != nil {
		return fmt.Errorf("truncate to %d: %w", size, err)
	}
	for off := int64(0); off < size; {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if err != nil {
			// No SEEK_DATA on this filesystem: everything is data.
			data = off
		}
		if data >= size {
			break
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil || hole > size {
			hole = size
		}
		if err := copyRange(out, in, data, hole-data); err != nil {
			return fmt.Errorf("copy bytes %d-%d: %w", data, hole, err)
		}
		off = hole
	}
	return nil
}

func copyRange(out, in *os.File, off, n int64) error {
	for n > 0 {
		srcOff, dstOff := off, off
		w, err := unix.CopyFileRange(int(in.Fd()), &srcOff, int(out.Fd()), &dstOff, int(min(n, 1<<30)), 0)
		if err != nil || w == 0 {
			// Across filesystems the kernel may refuse, and at an early end
			// of file it copies nothing: copy by hand, up to the end. The
			// buffer is no larger than the range: io.Copy's 32 KiB one,
			// allocated and zeroed for every file, costs more CPU than
			// copying a small file.
			buf := make([]byte, min(n, 32<<10))
			_, err := io.CopyBuffer(io.NewOffsetWriter(out, off), io.NewSectionReader(in, off, n), buf)
			return err
		}
		off += int64(w)
		n -= int64(w)
	}
	return nil
}
