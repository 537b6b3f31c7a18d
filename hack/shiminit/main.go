// Command shiminit measures what starting a shim binary costs before it does
// any work: it runs each binary given (label=path) with -v and
// GODEBUG=inittrace=1, interleaved, several times, and reports the wall time
// of the process, the runtime's own start (the "@" of the first init line),
// the sum of all package init times and allocations, and per package the
// median init clock and allocations. With -nm it also sums each binary's
// symbol sizes (go tool nm -size) by module, and lists the modules one
// binary links that the first does not.
//
//	go run ./hack/shiminit -n 21 runc=/opt/brisk/tools/bin/containerd-shim-runc-v2 brisk=bin/containerd-shim-brisk-v2
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs
var initLine = regexp.MustCompile(`^init (\S+) @([0-9.]+) ms, ([0-9.]+) ms clock, ([0-9]+) bytes, ([0-9]+) allocs`)

type pkgInit struct {
	at, clock     float64
	bytes, allocs int64
}

type runOf struct {
	wall   time.Duration
	inits  map[string]pkgInit
	order  []string
	mainAt float64 // when the last init ended, ms after the runtime started
}

type binary struct {
	label, path string
	runs        []runOf
}

func main() {
	n := flag.Int("n", 21, "runs of each binary, interleaved")
	top := flag.Int("top", 15, "packages listed per binary")
	nm := flag.Bool("nm", true, "sum symbol sizes by module (go tool nm -size)")
	flag.Parse()
	var bins []*binary
	for _, a := range flag.Args() {
		label, path, ok := strings.Cut(a, "=")
		if !ok {
			fatal(fmt.Errorf("%q: want label=path", a))
		}
		bins = append(bins, &binary{label: label, path: path})
	}
	if len(bins) == 0 {
		fatal(fmt.Errorf("no binaries given"))
	}
	for i := 0; i < *n; i++ {
		for _, b := range bins {
			r, err := runOnce(b.path)
			if err != nil {
				fatal(err)
			}
			b.runs = append(b.runs, r)
		}
	}
	fmt.Printf("## Process start (%d runs each, interleaved; median (min–max))\n\n", *n)
	fmt.Println("| binary | size (MB) | packages with init | wall, exec to exit of `-v` (ms) | last init done (ms after runtime start) | sum of init clocks (ms) | init allocs | init bytes (KB) |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, b := range bins {
		var wall, mainAt, clock, allocs, byts []float64
		for _, r := range b.runs {
			wall = append(wall, float64(r.wall.Microseconds())/1000)
			mainAt = append(mainAt, r.mainAt)
			var c float64
			var a, by int64
			for _, p := range r.inits {
				c += p.clock
				a += p.allocs
				by += p.bytes
			}
			clock = append(clock, c)
			allocs = append(allocs, float64(a))
			byts = append(byts, float64(by)/1000)
		}
		st, _ := os.Stat(b.path)
		var size float64
		if st != nil {
			size = float64(st.Size()) / 1e6
		}
		fmt.Printf("| %s | %.1f | %d | %s | %s | %s | %s | %s |\n", b.label, size, len(b.runs[0].inits),
			span(wall, "%.1f"), span(mainAt, "%.1f"), span(clock, "%.2f"), span(allocs, "%.0f"), span(byts, "%.0f"))
	}
	for _, b := range bins {
		fmt.Printf("\n### %s: top %d packages by init clock (median of %d runs)\n\n", b.label, *top, *n)
		fmt.Println("| package | init clock (ms) | allocs | bytes | in " + bins[0].label + "? |")
		fmt.Println("|---|---:|---:|---:|---|")
		type row struct {
			pkg           string
			clock         float64
			allocs, bytes float64
		}
		var rows []row
		for _, pkg := range b.runs[0].order {
			var c, a, by []float64
			for _, r := range b.runs {
				p := r.inits[pkg]
				c, a, by = append(c, p.clock), append(a, float64(p.allocs)), append(by, float64(p.bytes))
			}
			rows = append(rows, row{pkg, median(c), median(a), median(by)})
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].clock > rows[j].clock })
		for i, r := range rows {
			if i == *top {
				break
			}
			_, shared := bins[0].runs[0].inits[r.pkg]
			fmt.Printf("| %s | %.3f | %.0f | %.0f | %v |\n", r.pkg, r.clock, r.allocs, r.bytes, shared)
		}
		if b != bins[0] {
			// What this binary's packages absent from the first cost, by module.
			byMod := map[string][3]float64{}
			var total [3]float64
			for _, r := range rows {
				if _, shared := bins[0].runs[0].inits[r.pkg]; shared {
					continue
				}
				m := moduleOf(r.pkg)
				v := byMod[m]
				v[0] += r.clock
				v[1] += r.allocs
				v[2]++
				byMod[m] = v
				total[0] += r.clock
				total[1] += r.allocs
				total[2]++
			}
			fmt.Printf("\nPackages with init in %s and not in %s: %.0f, %.2f ms of init clock, %.0f allocs. By module:\n\n", b.label, bins[0].label, total[2], total[0], total[1])
			fmt.Println("| module | packages | init clock (ms) | allocs |")
			fmt.Println("|---|---:|---:|---:|")
			mods := make([]string, 0, len(byMod))
			for m := range byMod {
				mods = append(mods, m)
			}
			sort.Slice(mods, func(i, j int) bool { return byMod[mods[i]][0] > byMod[mods[j]][0] })
			for _, m := range mods {
				v := byMod[m]
				fmt.Printf("| %s | %.0f | %.2f | %.0f |\n", m, v[2], v[0], v[1])
			}
		}
	}
	if *nm {
		sizes(bins)
	}
}

func runOnce(path string) (runOf, error) {
	cmd := exec.Command(path, "-v")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return runOf{}, fmt.Errorf("%s -v: %w: %s", path, err, stderr.String())
	}
	r := runOf{wall: time.Since(t0), inits: map[string]pkgInit{}}
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var p pkgInit
		p.at, _ = strconv.ParseFloat(m[2], 64)
		p.clock, _ = strconv.ParseFloat(m[3], 64)
		p.bytes, _ = strconv.ParseInt(m[4], 10, 64)
		p.allocs, _ = strconv.ParseInt(m[5], 10, 64)
		if _, seen := r.inits[m[1]]; !seen {
			r.order = append(r.order, m[1])
		}
		r.inits[m[1]] = p
		if end := p.at + p.clock; end > r.mainAt {
			r.mainAt = end
		}
	}
	return r, nil
}

// moduleOf shortens a package path to the module-ish prefix it belongs to.
func moduleOf(pkg string) string {
	parts := strings.Split(pkg, "/")
	switch {
	case len(parts) >= 3 && (parts[0] == "github.com" || parts[0] == "golang.org" || parts[0] == "go.opentelemetry.io"):
		if len(parts) >= 4 && parts[2] == "aws-sdk-go-v2" {
			return strings.Join(parts[:min(len(parts), 5)], "/")
		}
		return strings.Join(parts[:3], "/")
	case len(parts) >= 2 && strings.Contains(parts[0], "."):
		return strings.Join(parts[:2], "/")
	}
	return "std"
}

// sizes sums go tool nm -size by module for each binary and lists the
// modules absent from the first binary.
func sizes(bins []*binary) {
	per := make([]map[string]int64, len(bins))
	for i, b := range bins {
		out, err := exec.Command("go", "tool", "nm", "-size", b.path).Output()
		if err != nil {
			fatal(fmt.Errorf("go tool nm %s: %w", b.path, err))
		}
		per[i] = map[string]int64{}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 4 {
				continue
			}
			size, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || size == 0 {
				continue
			}
			name := strings.Join(f[3:], " ")
			per[i][moduleOf(symbolPackage(name))] += size
		}
	}
	fmt.Printf("\n## Symbol sizes by module (go tool nm -size), modules %s links beyond %s\n\n", bins[len(bins)-1].label, bins[0].label)
	fmt.Println("| module | " + bins[len(bins)-1].label + " (KB) | " + bins[0].label + " (KB) | extra (KB) |")
	fmt.Println("|---|---:|---:|---:|")
	last := per[len(per)-1]
	mods := make([]string, 0, len(last))
	for m := range last {
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return last[mods[i]]-per[0][mods[i]] > last[mods[j]]-per[0][mods[j]] })
	var totalA, totalB int64
	for _, m := range mods {
		totalA += last[m]
	}
	for _, v := range per[0] {
		totalB += v
	}
	for i, m := range mods {
		if i == 20 {
			break
		}
		fmt.Printf("| %s | %d | %d | %d |\n", m, last[m]/1000, per[0][m]/1000, (last[m]-per[0][m])/1000)
	}
	fmt.Printf("| all symbols | %d | %d | %d |\n", totalA/1000, totalB/1000, (totalA-totalB)/1000)
}

// symbolPackage is the package path of a Go symbol name.
func symbolPackage(name string) string {
	name = strings.TrimPrefix(name, "go:itab.")
	name = strings.TrimPrefix(name, "type:")
	name = strings.TrimPrefix(name, "*")
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return name
	}
	return name[:slash+1+dot]
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func span(v []float64, f string) string {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return fmt.Sprintf(f+" ("+f+"–"+f+")", median(s), s[0], s[len(s)-1])
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "shiminit:", err)
	os.Exit(1)
}
