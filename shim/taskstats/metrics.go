package taskstats

import (
	"fmt"
	"strings"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/errdefs"
)

// FromMetrics summarises the cgroup metrics runc's task service answers
// Stats with: *v1.Metrics on cgroup v1, *v2.Metrics on cgroup v2.
func FromMetrics(m any) (Summary, error) {
	switch m := m.(type) {
	case *v1.Metrics:
		return fromV1(m), nil
	case *v2.Metrics:
		return fromV2(m), nil
	}
	return Summary{}, fmt.Errorf("cgroup metrics of type %T: %w", m, errdefs.ErrNotImplemented)
}

// fromV1 reads cpuacct.usage, memory.max_usage_in_bytes and the blkio
// service bytes. A controller the cgroup lacks leaves its part nil in the
// metrics (runc's shim ignores missing files), which reads as unavailable.
func fromV1(m *v1.Metrics) Summary {
	s := Summary{Cgroup: CgroupV1}
	if u := m.GetCPU().GetUsage(); u != nil {
		s.CPUNanos = u.Total
	}
	if u := m.GetMemory().GetUsage(); u != nil {
		peak := u.Max
		s.MemoryPeak = &peak
	}
	for _, e := range m.GetBlkio().GetIoServiceBytesRecursive() {
		// One line per device and operation; Sync, Async and Total
		// count the same bytes again.
		switch strings.ToLower(e.Op) {
		case "read":
			s.IORead += e.Value
		case "write":
			s.IOWrite += e.Value
		}
	}
	return s
}

// fromV2 reads cpu.stat, memory.peak, io.stat, io.pressure and
// memory.pressure.
func fromV2(m *v2.Metrics) Summary {
	s := Summary{Cgroup: CgroupV2, CPUNanos: m.GetCPU().GetUsageUsec() * 1000}
	// memory.peak is missing before Linux 5.19, which the metrics give as
	// 0; a cgroup that ran a process has charged some memory, so 0 is
	// never a real peak.
	if peak := m.GetMemory().GetMaxUsage(); peak > 0 {
		s.MemoryPeak = &peak
	}
	for _, e := range m.GetIo().GetUsage() {
		s.IORead += e.Rbytes
		s.IOWrite += e.Wbytes
	}
	s.IOPressure = stall(m.GetIo().GetPSI())
	s.MemoryPressure = stall(m.GetMemory().GetPSI())
	return s
}

func stall(p *v2.PSIStats) *Stall {
	if p.GetSome() == nil {
		return nil
	}
	st := &Stall{SomeMicros: p.GetSome().GetTotal()}
	if f := p.GetFull(); f != nil {
		full := f.GetTotal()
		st.FullMicros = &full
	}
	return st
}
