package nodestat

import (
	"github.com/prometheus/procfs"
)

// IO is a process's /proc/PID/io, summed over its threads.
type IO struct {
	// RChar and WChar count bytes passed to read and write calls, whatever
	// they reach: tmpfs, pipes, the page cache.
	RChar, WChar uint64
	// SyscR and SyscW count read and write calls.
	SyscR, SyscW uint64
	// ReadBytes and WriteBytes count bytes fetched from and dirtied
	// towards a block device; writes to tmpfs never appear here.
	ReadBytes, WriteBytes uint64
}

// Add sums o into io.
func (io *IO) Add(o IO) {
	io.RChar += o.RChar
	io.WChar += o.WChar
	io.SyscR += o.SyscR
	io.SyscW += o.SyscW
	io.ReadBytes += o.ReadBytes
	io.WriteBytes += o.WriteBytes
}

// Since is the growth from before to io; a counter that went backwards
// counts as zero.
func (io IO) Since(before IO) IO {
	d := func(a, b uint64) uint64 {
		if b < a {
			return 0
		}
		return b - a
	}
	return IO{
		RChar: d(before.RChar, io.RChar), WChar: d(before.WChar, io.WChar),
		SyscR: d(before.SyscR, io.SyscR), SyscW: d(before.SyscW, io.SyscW),
		ReadBytes: d(before.ReadBytes, io.ReadBytes), WriteBytes: d(before.WriteBytes, io.WriteBytes),
	}
}

// ProcIO reads procRoot/PID/io and the process's start time (in clock
// ticks after boot), which tells a process from a later one with its PID.
func ProcIO(procRoot string, pid int) (io IO, start uint64, err error) {
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return io, 0, err
	}
	p, err := fs.Proc(pid)
	if err != nil {
		return io, 0, err
	}
	pio, err := p.IO()
	if err != nil {
		return io, 0, err
	}
	st, err := p.Stat()
	if err != nil {
		return io, 0, err
	}
	return IO{
		RChar: pio.RChar, WChar: pio.WChar, SyscR: pio.SyscR, SyscW: pio.SyscW,
		ReadBytes: pio.ReadBytes, WriteBytes: pio.WriteBytes,
	}, st.Starttime, nil
}
