package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brisk-containers/brisk/hack/internal/procstat"
)

// runAPI starts three daemons (a holds the task's spool entry, b is the one
// the client asks, c is one more node), then measures first bytes and
// printed lines.
func runAPI(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("api", flag.ExitOnError)
	var c common
	c.register(fs)
	var (
		requests = fs.Int("requests", 200, "first-byte requests per path")
		preload  = fs.Int("preload", 300<<10, "bytes of log the running task has written when the requests start")
		lines    = fs.Int("lines", 500, "stamped lines the followed task prints")
		every    = fs.Duration("every", 20*time.Millisecond, "one stamped line per this long")
	)
	fs.Parse(args)
	cleanup, err := c.setup()
	if err != nil {
		return err
	}
	defer cleanup()
	nodes := map[string]*daemon{}
	for _, name := range []string{"a", "b", "c"} {
		if nodes[name], err = reserve(&c, name); err != nil {
			return err
		}
	}
	for name, d := range nodes {
		var peers []string
		for other, o := range nodes {
			if other != name {
				peers = append(peers, o.url)
			}
		}
		if err := d.start(ctx, &c, peers, time.Second); err != nil {
			return err
		}
		defer d.stop()
	}
	a, b := nodes["a"], nodes["b"]
	load := procstat.LoadAvg()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)

	// 1. First byte of a running task's log, each request on a new
	// connection, as a fresh curl or page load makes it; the three kinds
	// interleaved, so that each sees the same load.
	id := "running-" + run
	w, err := startWriter(ctx, a.spool, a.name, id, "-preload", strconv.Itoa(*preload), "-every", "100ms")
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	logURL := "/v1/logs/" + namespace + "/" + id + "?follow=1"
	kinds := []struct {
		path, url, source string
	}{
		{"healthz", a.url + "/healthz", ""},
		{"local", a.url + logURL, "spool"},
		{"peer", b.url + logURL, "peer"},
	}
	samples := map[string][]time.Duration{}
	for i := -5; i < *requests; i++ { // 5 to warm up, not counted
		for _, k := range kinds {
			d, err := firstByte(ctx, client, k.url, k.source)
			if err != nil {
				w.stop()
				return fmt.Errorf("first byte, %s: %w", k.path, err)
			}
			if i >= 0 {
				samples[k.path] = append(samples[k.path], d)
			}
		}
	}
	if err := w.stop(); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	for _, k := range kinds {
		r := latencies("logd-first-byte", k.path, samples[k.path])
		r["loadavg"], r["preload_bytes"] = load, *preload
		c.emit(r)
	}

	// 2. A printed line, from its write into the spool to a follower's
	// read of it, for a follower on the node and one through a peer, both
	// attached while the task runs and following it to its exit.
	id = "printing-" + run
	const exitCode = 7
	w, err = startWriter(ctx, a.spool, a.name, id, "-lines", strconv.Itoa(*lines), "-every", every.String(), "-exit", strconv.Itoa(exitCode))
	if err != nil {
		return err
	}
	logURL = "/v1/logs/" + namespace + "/" + id + "?follow=1"
	var wg sync.WaitGroup
	followed := map[string]*followResult{"local": {}, "peer": {}}
	for path, base := range map[string]string{"local": a.url, "peer": b.url} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			*followed[path] = followLines(ctx, base+logURL, map[string]string{"local": "spool", "peer": "peer"}[path])
		}()
	}
	wg.Wait()
	if err := w.wait(); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	for _, path := range []string{"local", "peer"} {
		f := followed[path]
		if f.err != nil {
			return fmt.Errorf("follow, %s: %w", path, f.err)
		}
		if f.exit != strconv.Itoa(exitCode) {
			return fmt.Errorf("follow, %s: the follow ended with exit code %q, the task's is %d", path, f.exit, exitCode)
		}
		if missing := *lines - f.seen; missing != 0 || f.disorder > 0 {
			return fmt.Errorf("follow, %s: %d of %d lines missing, %d out of order or twice", path, missing, *lines, f.disorder)
		}
		r := latencies("logd-line", path, f.lat)
		r["loadavg"], r["lines"], r["every_ms"] = load, *lines, ms(*every)
		c.emit(r)
	}
	return nil
}

// firstByte is the time from sending a GET to the first byte of its body.
func firstByte(ctx context.Context, client *http.Client, url, wantSource string) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var one [1]byte
	if _, err := io.ReadFull(resp.Body, one[:]); err != nil {
		return 0, err
	}
	took := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("%s: %s: %s%s", url, resp.Status, one[:], body)
	}
	if got := resp.Header.Get("Brisk-Source"); got != wantSource {
		return 0, fmt.Errorf("%s: Brisk-Source %q, want %q", url, got, wantSource)
	}
	return took, nil
}

// followResult is what one follower saw of the stamped lines.
type followResult struct {
	lat      []time.Duration // read time − write time, of lines written after the answer began
	seen     int             // stamped lines, each once and in order
	disorder int
	exit     string
	err      error
}

// followLines follows url to the task's end and times every stamped line.
func followLines(ctx context.Context, url, wantSource string) (f followResult) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return followResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return followResult{err: err}
	}
	defer resp.Body.Close()
	attached := time.Now()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return followResult{err: fmt.Errorf("%s: %s: %s", url, resp.Status, body)}
	}
	if got := resp.Header.Get("Brisk-Source"); got != wantSource {
		return followResult{err: fmt.Errorf("%s: Brisk-Source %q, want %q", url, got, wantSource)}
	}
	br := bufio.NewReader(resp.Body)
	next := 0
	for {
		line, err := br.ReadString('\n')
		now := time.Now()
		if rest, ok := strings.CutPrefix(line, stampPrefix); ok && strings.HasSuffix(line, "\n") {
			fields := strings.Fields(rest)
			seq, err1 := strconv.Atoi(fields[0])
			nanos, err2 := strconv.ParseInt(fields[1], 10, 64)
			if err1 != nil || err2 != nil {
				return followResult{err: fmt.Errorf("a stamped line that does not parse: %q", line)}
			}
			if seq == next {
				f.seen++
				next++
			} else {
				f.disorder++
			}
			if written := time.Unix(0, nanos); written.After(attached) {
				f.lat = append(f.lat, now.Sub(written))
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.err = err
			return f
		}
	}
	f.exit = resp.Trailer.Get("Brisk-Exit-Code")
	if e := resp.Trailer.Get("Brisk-Error"); e != "" {
		f.err = fmt.Errorf("%s: the answer ended with Brisk-Error: %s", url, e)
	}
	return f
}
