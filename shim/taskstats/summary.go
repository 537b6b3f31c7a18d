// Package taskstats summarises a task's cgroup at exit: CPU time, memory
// peak, block I/O and, on cgroup v2, the io and memory pressure stall totals.
// The figures come from runc's task service (Stats), which holds the task's
// cgroup until Delete, so they are read after the init process died and
// before the cgroup is removed.
package taskstats

import (
	"strconv"
	"strings"
)

// Cgroup versions a Summary was read from.
const (
	CgroupV1 = "v1"
	CgroupV2 = "v2"
)

// Unavailable is the value of a figure the kernel does not report (memory
// peak on cgroup v2 before Linux 5.19, or v1 without memory accounting).
const Unavailable = "unavailable"

// Summary is a task's resource use over its whole life.
type Summary struct {
	Cgroup string `json:"cgroup"` // CgroupV1 or CgroupV2
	// CPUNanos is user plus system time of every process of the task.
	CPUNanos uint64 `json:"cpu_ns"`
	// MemoryPeak is the largest memory charge seen; nil when unavailable.
	MemoryPeak *uint64 `json:"memory_peak_bytes,omitempty"`
	// IORead and IOWrite count bytes that reached a block device (a tmpfs
	// upper shows none).
	IORead  uint64 `json:"io_read_bytes"`
	IOWrite uint64 `json:"io_write_bytes"`
	// IOPressure and MemoryPressure are cgroup v2's stall totals; nil where
	// the kernel has none (v1, or PSI disabled).
	IOPressure     *Stall `json:"io_pressure,omitempty"`
	MemoryPressure *Stall `json:"memory_pressure,omitempty"`
}

// Stall is a pressure stall total, in microseconds: the time in which some
// (or, for Full, all) of the task's non-idle processes waited for the
// resource. Full is nil when the kernel reports no "full" line.
type Stall struct {
	SomeMicros uint64  `json:"some_us"`
	FullMicros *uint64 `json:"full_us,omitempty"`
}

// field is one figure under its name; the name is the object metadata key
// without the "brisk-" prefix the shipper adds.
type field struct{ name, value string }

func (s *Summary) fields() []field {
	if s == nil {
		return nil
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	peak := Unavailable
	if s.MemoryPeak != nil {
		peak = u(*s.MemoryPeak)
	}
	f := []field{
		{"cgroup", s.Cgroup},
		{"cpu-ns", u(s.CPUNanos)},
		{"memory-peak-bytes", peak},
		{"io-read-bytes", u(s.IORead)},
		{"io-write-bytes", u(s.IOWrite)},
	}
	for _, p := range []struct {
		name  string
		stall *Stall
	}{{"io-pressure", s.IOPressure}, {"memory-pressure", s.MemoryPressure}} {
		if p.stall == nil {
			continue
		}
		f = append(f, field{p.name + "-some-us", u(p.stall.SomeMicros)})
		if p.stall.FullMicros != nil {
			f = append(f, field{p.name + "-full-us", u(*p.stall.FullMicros)})
		}
	}
	return f
}

// Metadata renders s as object metadata fields, named as the shipper's
// scheme wants them before it adds "brisk-" (cpu-ns, memory-peak-bytes, ...).
// Figures the kernel does not have are left out, not zero; a nil summary
// (the stats could not be read) has no fields.
func (s *Summary) Metadata() map[string]string {
	if s == nil {
		return nil
	}
	m := map[string]string{}
	for _, f := range s.fields() {
		m[f.name] = f.value
	}
	return m
}

// Labels renders s as the labels of the usage event, in the style of its
// writable-layer labels (brisk.io/cpu_ns, brisk.io/memory_peak_bytes, ...).
func (s *Summary) Labels() map[string]string {
	m := map[string]string{}
	for _, f := range s.fields() {
		m["brisk.io/"+strings.ReplaceAll(f.name, "-", "_")] = f.value
	}
	return m
}
