package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// followed: one task writing mb MB as fast as it can, as throughput's, with
// n followers on brisk-logd's GET /v1/logs?follow=1 attached from its
// create to its exit; n = 0 is the baseline. Followers read the spool
// entry, never the shim: the shim's CPU per MB must not move with them.
// Each follower must get every byte the task wrote and the exit code, or
// the round fails.
func (b *bench) followed(ctx context.Context, id string, mb, n int, logdURL, token string, logdPid int) (result, error) {
	if n > 0 && logdURL == "" {
		return nil, fmt.Errorf("-followers %d needs -logd", n)
	}
	var wg sync.WaitGroup
	got := make([]int64, n)
	errs := make([]error, n)
	b.afterCreate = func(id string) {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i], errs[i] = followTask(ctx, logdURL+"/v1/logs/"+b.namespace+"/"+id+"?follow=1", token)
			}()
		}
	}
	defer func() { b.afterCreate = nil }()
	logdBefore, _ := shimStats(logdPid)
	bytes := int64(mb) * 1000 * 1000
	r, err := b.run(ctx, id, "sh", "-c", fmt.Sprintf("yes '%s' | head -c %d", strings.Repeat("a line a follower reads ", 4), bytes))
	if err != nil {
		return nil, err
	}
	wg.Wait()
	cpu, hwm := r.shimWatch.untilExit()
	logdAfter, _ := shimStats(logdPid)
	for i := range n {
		if errs[i] != nil {
			return nil, fmt.Errorf("follower %d: %w", i, errs[i])
		}
		if got[i] != bytes {
			return nil, fmt.Errorf("follower %d got %d of the %d bytes written", i, got[i], bytes)
		}
	}
	res := result{
		"kind": "follow", "followers": n, "mb": mb, "mb_per_s": float64(mb) / r.ioDone.Seconds(),
		"client_dropped": bytes - r.bytes,
		// At the task's exit (the client has its status and all output),
		// and through the shim's own exit (the upload included).
		"shim_cpu_s": r.shimCPU.Seconds(), "shim_cpu_exit_s": cpu.Seconds(), "shim_hwm_exit_kib": hwm,
		"shim_cpu_ms_per_mb": 1000 * cpu.Seconds() / float64(mb),
	}
	if logdPid > 0 {
		res["logd_cpu_s"] = (logdAfter - logdBefore).Seconds()
	}
	return res, nil
}

// followTask follows url to the task's end and returns the bytes read; the
// answer must end with the exit code 0.
func followTask(ctx context.Context, url, token string) (int64, error) {
	// The entry exists once the task is created; a 404 is waited out
	// briefly all the same.
	for deadline := time.Now().Add(5 * time.Second); ; {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		if resp.StatusCode == http.StatusNotFound && time.Now().Before(deadline) {
			resp.Body.Close()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return 0, fmt.Errorf("%s: %s: %s", url, resp.Status, body)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			return n, err
		}
		if code := resp.Trailer.Get("Brisk-Exit-Code"); code != "0" {
			return n, fmt.Errorf("%s: ended with exit code %q (Brisk-Error %q), want 0", url, code, resp.Trailer.Get("Brisk-Error"))
		}
		return n, nil
	}
}

// readToken is the first token of a brisk-logd tokens file.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("%s: no TOKEN NAMESPACES line", path)
}
