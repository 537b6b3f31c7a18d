package nodestat

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/procfs/blockdevice"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadDiskstats(t *testing.T) {
	for _, tc := range []struct {
		name, content, dev string
		want               blockdevice.IOStats
	}{
		{
			name:    "kernel 5.5+ with discard and flush fields",
			content: "   8       0 sda 1000 10 80000 500 2000 20 160000 4000 3 4200 4600 0 0 0 0 50 100\n   8       1 sda1 900 9 70000 450 1900 19 150000 3900 1 4100 4400 0 0 0 0 0 0\n",
			dev:     "8:1",
			want:    blockdevice.IOStats{ReadIOs: 900, ReadMerges: 9, ReadSectors: 70000, ReadTicks: 450, WriteIOs: 1900, WriteMerges: 19, WriteSectors: 150000, WriteTicks: 3900, IOsInProgress: 1, IOsTotalTicks: 4100, WeightedIOTicks: 4400},
		},
		{
			name:    "old kernel, 14 fields",
			content: " 259       0 nvme0n1 10 0 80 5 20 0 160 40 0 42 46\n",
			dev:     "259:0",
			want:    blockdevice.IOStats{ReadIOs: 10, ReadSectors: 80, ReadTicks: 5, WriteIOs: 20, WriteSectors: 160, WriteTicks: 40, IOsTotalTicks: 42, WeightedIOTicks: 46},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, filepath.Join(root, "diskstats"), tc.content)
			got, err := ReadDiskstats(root)
			if err != nil {
				t.Fatal(err)
			}
			if got[tc.dev] != tc.want {
				t.Fatalf("%s: got %+v, want %+v", tc.dev, got[tc.dev], tc.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after blockdevice.IOStats
		elapsed       time.Duration
		want          DiskLoad
	}{
		{
			name:    "half busy, 100 writes of 4 ms",
			before:  blockdevice.IOStats{WriteIOs: 1000, WriteTicks: 5000, IOsTotalTicks: 10000, WeightedIOTicks: 20000, WriteSectors: 8000},
			after:   blockdevice.IOStats{WriteIOs: 1100, WriteTicks: 5400, IOsTotalTicks: 11000, WeightedIOTicks: 22000, WriteSectors: 8000 + 2*2048},
			elapsed: 2 * time.Second,
			want:    DiskLoad{Util: 50, Await: 4, QueueDepth: 1, IOPS: 50, WriteBps: 1 << 20},
		},
		{
			name:    "reads and writes share await",
			before:  blockdevice.IOStats{},
			after:   blockdevice.IOStats{ReadIOs: 10, ReadTicks: 10, WriteIOs: 10, WriteTicks: 390, IOsTotalTicks: 1000, ReadSectors: 2},
			elapsed: time.Second,
			want:    DiskLoad{Util: 100, Await: 20, IOPS: 20, ReadBps: 1024},
		},
		{
			name:    "idle",
			before:  blockdevice.IOStats{ReadIOs: 5},
			after:   blockdevice.IOStats{ReadIOs: 5},
			elapsed: time.Second,
			want:    DiskLoad{},
		},
		{
			name:    "counters reset",
			before:  blockdevice.IOStats{WriteIOs: 50, IOsTotalTicks: 900},
			after:   blockdevice.IOStats{WriteIOs: 1, IOsTotalTicks: 1},
			elapsed: time.Second,
			want:    DiskLoad{},
		},
		{
			name:    "util capped at 100 when ticks outrun the clock",
			after:   blockdevice.IOStats{IOsTotalTicks: 1100},
			elapsed: time.Second,
			want:    DiskLoad{Util: 100},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Load(tc.before, tc.after, tc.elapsed); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// procStat is a /proc/PID/stat line whose 22nd field (start time) is start.
func procStat(pid int, start string) string {
	return "1 (sh) S 0 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + start + " 1000000 100 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"
}

func TestProcIO(t *testing.T) {
	for _, tc := range []struct {
		name, io string
		want     IO
		wantErr  bool
	}{
		{
			name: "all fields",
			io:   "rchar: 4096\nwchar: 1048576\nsyscr: 3\nsyscw: 256\nread_bytes: 8192\nwrite_bytes: 0\ncancelled_write_bytes: 0\n",
			want: IO{RChar: 4096, WChar: 1 << 20, SyscR: 3, SyscW: 256, ReadBytes: 8192},
		},
		{
			name: "disk writes",
			io:   "rchar: 0\nwchar: 40960\nsyscr: 0\nsyscw: 10\nread_bytes: 0\nwrite_bytes: 40960\ncancelled_write_bytes: 4096\n",
			want: IO{WChar: 40960, SyscW: 10, WriteBytes: 40960},
		},
		{name: "garbage", io: "rchar: lots\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, filepath.Join(root, "42/io"), tc.io)
			write(t, filepath.Join(root, "42/stat"), procStat(42, "777"))
			got, start, err := ProcIO(root, 42)
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want || start != 777 {
				t.Fatalf("got %+v start %d, want %+v start 777", got, start, tc.want)
			}
		})
	}
}

func TestIOSince(t *testing.T) {
	before := IO{RChar: 10, WChar: 100, SyscW: 5}
	after := IO{RChar: 15, WChar: 90, SyscW: 9, WriteBytes: 4096}
	if got, want := after.Since(before), (IO{RChar: 5, SyscW: 4, WriteBytes: 4096}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	var sum IO
	sum.Add(IO{WChar: 1, SyscW: 1})
	sum.Add(IO{WChar: 2, ReadBytes: 3})
	if sum != (IO{WChar: 3, SyscW: 1, ReadBytes: 3}) {
		t.Fatalf("sum %+v", sum)
	}
}

func TestCgroupDirAndProcs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cgroup  string            // /proc/PID/cgroup
		tree    map[string]string // files under the cgroup root
		want    string            // dir, relative to the cgroup root
		pids    []int
		wantErr bool
	}{
		{
			name:   "v2",
			cgroup: "0::/default/c1\n",
			tree: map[string]string{
				"cgroup.controllers":            "cpu io memory pids\n",
				"default/c1/cgroup.procs":       "100\n101\n",
				"default/c1/sub/cgroup.procs":   "102\n",
				"default/c1/empty/cgroup.procs": "",
				"default/other/cgroup.procs":    "200\n",
			},
			want: "default/c1",
			pids: []int{100, 101, 102},
		},
		{
			name:   "v1 hybrid: the pids hierarchy, not the unified one",
			cgroup: "12:pids:/brisk-test/c1\n11:memory:/brisk-test/c1\n4:cpu,cpuacct:/brisk-test/c1\n1:name=systemd:/user.slice\n0::/user.slice\n",
			tree: map[string]string{
				"pids/brisk-test/c1/cgroup.procs":        "300\n",
				"memory/brisk-test/c1/cgroup.procs":      "300\n",
				"unified/user.slice/cgroup.procs":        "1\n",
				"cpu,cpuacct/brisk-test/c1/cgroup.procs": "300\n",
			},
			want: "pids/brisk-test/c1",
			pids: []int{300},
		},
		{
			name:   "v1 without pids: combined cpu,cpuacct mount",
			cgroup: "4:cpu,cpuacct:/kubepods/pod1/c2\n",
			tree:   map[string]string{"cpu,cpuacct/kubepods/pod1/c2/cgroup.procs": "400\n401\n"},
			want:   "cpu,cpuacct/kubepods/pod1/c2",
			pids:   []int{400, 401},
		},
		{
			name:    "v1 hierarchy not mounted",
			cgroup:  "12:pids:/x\n",
			tree:    map[string]string{"README": ""},
			wantErr: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc, cg := t.TempDir(), t.TempDir()
			write(t, filepath.Join(proc, "7/cgroup"), tc.cgroup)
			for f, c := range tc.tree {
				write(t, filepath.Join(cg, f), c)
			}
			dir, err := CgroupDir(proc, cg, 7)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error, dir %s", dir)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if dir != filepath.Join(cg, tc.want) {
				t.Fatalf("dir %s, want %s", dir, filepath.Join(cg, tc.want))
			}
			pids, err := CgroupProcs(dir)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(pids)
			if !slices.Equal(pids, tc.pids) {
				t.Fatalf("pids %v, want %v", pids, tc.pids)
			}
		})
	}
}

func TestMountOptions(t *testing.T) {
	for _, tc := range []struct {
		opts, key string
		has       bool
		value     string
	}{
		{"rw,noatime", "noatime", true, ""},
		{"rw,relatime", "noatime", false, ""},
		{"rw,nodiratime", "noatime", false, ""},
		{"rw,attr2,inode64,logbufs=8,prjquota", "prjquota", true, ""},
		{"rw,errors=remount-ro,data=writeback", "data", true, "writeback"},
		{"rw,lowerdir=/a:/b,upperdir=/up/fs,workdir=/up/work", "upperdir", true, "/up/fs"},
		{"", "noatime", false, ""},
	} {
		v, ok := OptionValue(tc.opts, tc.key)
		if ok != tc.has || v != tc.value || HasOption(tc.opts, tc.key) != tc.has {
			t.Errorf("%q %s: got %q %v, want %q %v", tc.opts, tc.key, v, ok, tc.value, tc.has)
		}
	}
}

func TestMountOfAndDevices(t *testing.T) {
	dir := t.TempDir()
	m, err := MountOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Mountpoint == "" || !filepath.IsAbs(m.Mountpoint) {
		t.Fatalf("mount of %s: %+v", dir, m)
	}
	// A path not created yet is judged where it will be created.
	if got := ExistingParent(filepath.Join(dir, "a/b/c")); got != dir {
		t.Fatalf("ExistingParent = %s, want %s", got, dir)
	}
	devs, notes := DevicesOf("/sys", []Watched{{What: "a", Path: dir}, {What: "b", Path: filepath.Join(dir, "later")}})
	if len(devs)+len(notes) == 0 {
		t.Fatal("neither a device nor a note")
	}
	if len(devs) == 1 && !slices.Equal(devs[0].Holds, []string{"a", "b"}) {
		t.Fatalf("one device should hold both paths: %+v", devs[0])
	}
}
