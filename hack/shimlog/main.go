// Command shimlog reads a containerd debug log (containerd --log-level
// debug: shims then log at debug level too, with their own timestamps) of
// shimbench tasks and prints, per runtime and burst size, the median and
// range of the intervals it can see for each task:
//
//	create→connect     containerd's "creating task" to "connecting to shim":
//	                   the shim binary's start command (exec, Go init, spawn
//	                   of the serving shim, its socket)
//	connect→serving    to the serving shim's "starting signal loop" (its
//	                   exec, Go init, plugin init, ttrpc server up)
//	serving→stats      to brisk's "task resource summary at exit"
//	stats→usage        brisk's writable layer measure and usage event
//	usage→captured     brisk's spool Finish (meta.json written)
//	captured→shipped   brisk's upload (S3 client built at the first one)
//	disconnect→cleaned "shim disconnected" to the end of the dead-shim
//	                   cleanup (containerd runs the shim binary's delete)
//
// Task IDs are shimbench's LABEL-burst-NANOS-I; tasks sharing NANOS are one
// burst.
//
//	go run ./hack/shimlog containerd.log
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"
)

var (
	timeRe = regexp.MustCompile(`^time="([^"]+)"`)
	msgRe  = regexp.MustCompile(` msg="([^"]*)"`)
	idRe   = regexp.MustCompile(`([a-z0-9]+)-burst-([0-9]+)-([0-9]+)`)
)

var marks = map[string]string{
	"creating task":                        "create",
	"starting signal loop":                 "serving",
	"task resource summary at exit":        "stats",
	"writable layer usage at exit":         "usage",
	"task log captured":                    "captured",
	"task log shipped":                     "shipped",
	"shim disconnected":                    "disconnect",
	"warnings while cleaning up dead shim": "cleaned",
}

var intervals = [][3]string{
	{"create→connect", "create", "connect"},
	{"connect→serving", "connect", "serving"},
	{"serving→stats", "serving", "stats"},
	{"stats→usage", "stats", "usage"},
	{"usage→captured", "usage", "captured"},
	{"captured→shipped", "captured", "shipped"},
	{"disconnect→cleaned", "disconnect", "cleaned"},
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: shimlog containerd.log")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	tasks := map[string]map[string]time.Time{} // id -> mark -> first time
	bursts := map[string]map[string]bool{}     // label-nanos -> ids
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		tm, msg := timeRe.FindStringSubmatch(line), msgRe.FindStringSubmatch(line)
		if tm == nil || msg == nil {
			continue
		}
		mark, ok := marks[msg[1]]
		if strings.HasPrefix(msg[1], "connecting to shim ") {
			mark, ok = "connect", true
		}
		if !ok {
			continue
		}
		m := idRe.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, tm[1])
		if err != nil {
			continue
		}
		id := m[0]
		if tasks[id] == nil {
			tasks[id] = map[string]time.Time{}
		}
		if _, seen := tasks[id][mark]; !seen {
			tasks[id][mark] = at
		}
		stem := m[1] + "-" + m[2]
		if bursts[stem] == nil {
			bursts[stem] = map[string]bool{}
		}
		bursts[stem][id] = true
	}
	// group: runtime label and burst size.
	groups := map[string]map[string][]float64{}
	for stem, ids := range bursts {
		label := stem[:strings.IndexByte(stem, '-')]
		g := fmt.Sprintf("%s, burst of %d", label, len(ids))
		if groups[g] == nil {
			groups[g] = map[string][]float64{}
		}
		for id := range ids {
			t := tasks[id]
			for _, iv := range intervals {
				a, okA := t[iv[1]]
				b, okB := t[iv[2]]
				if okA && okB {
					groups[g][iv[0]] = append(groups[g][iv[0]], float64(b.Sub(a).Microseconds())/1000)
				}
			}
		}
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	fmt.Print("| interval (ms, median (min–max) over tasks) |")
	for _, g := range names {
		fmt.Printf(" %s |", g)
	}
	fmt.Print("\n|---|")
	for range names {
		fmt.Print("---:|")
	}
	fmt.Println()
	for _, iv := range intervals {
		fmt.Printf("| %s |", iv[0])
		for _, g := range names {
			v := groups[g][iv[0]]
			if len(v) == 0 {
				fmt.Print(" – |")
				continue
			}
			sort.Float64s(v)
			fmt.Printf(" %.1f (%.1f–%.1f) n=%d |", v[len(v)/2], v[0], v[len(v)-1], len(v))
		}
		fmt.Println()
	}
}
