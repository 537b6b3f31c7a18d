package taskstats

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
)

// The fixtures in testdata are cgroup files as the kernel wrote them:
//   - v1-dd: cpuacct, memory and blkio of a cgroup on this machine (cgroup v1
//     hybrid, Linux 6.18) after `dd | md5sum` of 256 MiB, 32 MiB written to
//     /dev/shm and 8 MiB written and read back with O_DIRECT;
//   - v2-hybrid: the same workload in a child of this machine's unified
//     hierarchy, where no controller is enabled: cpu.stat and PSI only;
//   - v2-unified: a cgroup v2 container with memory.peak, two devices in
//     io.stat and PSI;
//   - v2-nopeak-nopsi: the same before Linux 5.19 and with psi=0.

// statV1 reads dir as runc's shim reads a v1 cgroup (cgroup1.Load, then
// Stat ignoring missing files), with dir/CONTROLLER as each hierarchy.
func statV1(t *testing.T, dir string) any {
	t.Helper()
	cg, err := cgroup1.Load(cgroup1.StaticPath("/"), cgroup1.WithHierarchy(func() ([]cgroup1.Subsystem, error) {
		return []cgroup1.Subsystem{
			cgroup1.NewCpuacct(dir),
			cgroup1.NewMemory(dir),
			cgroup1.NewBlkio(dir, cgroup1.ProcRoot(filepath.Join(dir, "proc"))),
		}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cg.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// statV2 reads dir as runc's shim reads a v2 cgroup.
func statV2(t *testing.T, dir string) any {
	t.Helper()
	cg, err := cgroup2.Load("/"+filepath.Base(dir), cgroup2.WithMountpoint(filepath.Dir(dir)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := cg.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ptr(v uint64) *uint64 { return &v }

func TestFromMetrics(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		stat    func(*testing.T, string) any
		want    Summary
		meta    map[string]string
	}{
		{
			fixture: "v1-dd",
			stat:    statV1,
			want: Summary{Cgroup: CgroupV1, CPUNanos: 586475535, MemoryPeak: ptr(35201024),
				IORead: 8417280, IOWrite: 8388608},
			meta: map[string]string{"cgroup": "v1", "cpu-ns": "586475535", "memory-peak-bytes": "35201024",
				"io-read-bytes": "8417280", "io-write-bytes": "8388608"},
		},
		{
			fixture: "v2-hybrid",
			stat:    statV2,
			// No memory controller: no memory.stat, peak or io.stat. The
			// library reads memory.pressure only with memory.stat.
			want: Summary{Cgroup: CgroupV2, CPUNanos: 487168000,
				IOPressure: &Stall{SomeMicros: 4725, FullMicros: ptr(4725)}},
			meta: map[string]string{"cgroup": "v2", "cpu-ns": "487168000", "memory-peak-bytes": Unavailable,
				"io-read-bytes": "0", "io-write-bytes": "0", "io-pressure-some-us": "4725", "io-pressure-full-us": "4725"},
		},
		{
			fixture: "v2-unified",
			stat:    statV2,
			want: Summary{Cgroup: CgroupV2, CPUNanos: 1843211000, MemoryPeak: ptr(69054464),
				IORead: 8462336 + 4096, IOWrite: 8388608 + 1048576,
				IOPressure:     &Stall{SomeMicros: 51840, FullMicros: ptr(49211)},
				MemoryPressure: &Stall{SomeMicros: 1207, FullMicros: ptr(980)}},
			meta: map[string]string{"cgroup": "v2", "cpu-ns": "1843211000", "memory-peak-bytes": "69054464",
				"io-read-bytes": "8466432", "io-write-bytes": "9437184",
				"io-pressure-some-us": "51840", "io-pressure-full-us": "49211",
				"memory-pressure-some-us": "1207", "memory-pressure-full-us": "980"},
		},
		{
			fixture: "v2-nopeak-nopsi",
			stat:    statV2,
			want:    Summary{Cgroup: CgroupV2, CPUNanos: 1843211000, IOWrite: 4194304},
			meta: map[string]string{"cgroup": "v2", "cpu-ns": "1843211000", "memory-peak-bytes": Unavailable,
				"io-read-bytes": "0", "io-write-bytes": "4194304"},
		},
	} {
		t.Run(tc.fixture, func(t *testing.T) {
			got, err := FromMetrics(tc.stat(t, filepath.Join("testdata", tc.fixture)))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("summary\n got %s\nwant %s", dump(got), dump(tc.want))
			}
			if m := got.Metadata(); !reflect.DeepEqual(m, tc.meta) {
				t.Errorf("metadata\n got %v\nwant %v", m, tc.meta)
			}
		})
	}
}

func TestFromMetricsRejectsUnknownType(t *testing.T) {
	if _, err := FromMetrics(struct{}{}); err == nil {
		t.Fatal("no error for an unknown metrics type")
	}
}

func TestLabels(t *testing.T) {
	s := Summary{Cgroup: CgroupV2, CPUNanos: 5, MemoryPeak: ptr(7), IOPressure: &Stall{SomeMicros: 1}}
	want := map[string]string{"brisk.io/cgroup": "v2", "brisk.io/cpu_ns": "5", "brisk.io/memory_peak_bytes": "7",
		"brisk.io/io_read_bytes": "0", "brisk.io/io_write_bytes": "0", "brisk.io/io_pressure_some_us": "1"}
	if got := s.Labels(); !reflect.DeepEqual(got, want) {
		t.Errorf("labels\n got %v\nwant %v", got, want)
	}
}
