// Package doctor checks a node against Brisk's needs and the write-path
// playbook (docs/playbook.md): each check says what it found, whether that
// is right, and the one-line fix. briskctl doctor prints the results.
package doctor

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Status grades one finding.
type Status string

const (
	// Pass: as the playbook wants it.
	Pass Status = "PASS"
	// Info: worth knowing, nothing to fix.
	Info Status = "INFO"
	// Warn: works, but slower or riskier than it should be.
	Warn Status = "WARN"
	// Fail: Brisk does not work, or loses data, until fixed.
	Fail Status = "FAIL"
	// Skip: the check could not run; Found says why.
	Skip Status = "SKIP"
)

// Result is one finding.
type Result struct {
	Check  string `json:"check"`
	Status Status `json:"status"`
	// Found gives the values the status is based on.
	Found string `json:"found"`
	// Fix is the one-line remedy, empty when there is nothing to do.
	Fix string `json:"fix,omitempty"`
}

// Check is one named probe; it may report several findings (one per path
// or per device).
type Check struct {
	Name string
	// Hint is the fix to print when the check does not finish in time.
	Hint string
	Run  func(ctx context.Context, n *Node) []Result
}

// Report is every finding, in the order of the checks.
type Report struct {
	Results []Result `json:"results"`
}

// Failed reports whether any finding is a FAIL.
func (r Report) Failed() bool {
	for _, x := range r.Results {
		if x.Status == Fail {
			return true
		}
	}
	return false
}

// Count returns how many findings have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, x := range r.Results {
		if x.Status == s {
			n++
		}
	}
	return n
}

// Run runs the checks concurrently, each under its own timeout, and keeps
// their order. A check that has not answered when its timeout passes is
// reported as a FAIL that says so; it is left to finish in the background
// (briskctl exits right after).
func Run(ctx context.Context, n *Node, checks []Check, timeout time.Duration) Report {
	out := make([][]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = runOne(ctx, n, c, timeout)
		}()
	}
	wg.Wait()
	var r Report
	for i, rs := range out {
		for _, x := range rs {
			if x.Check == "" {
				x.Check = checks[i].Name
			}
			r.Results = append(r.Results, x)
		}
	}
	return r
}

func runOne(ctx context.Context, n *Node, c Check, timeout time.Duration) []Result {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan []Result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- []Result{{Status: Fail, Found: fmt.Sprintf("check crashed: %v", p), Fix: "report this as a briskctl bug"}}
			}
		}()
		done <- c.Run(ctx, n)
	}()
	select {
	case rs := <-done:
		return rs
	case <-ctx.Done():
		return []Result{{Check: c.Name, Status: Fail, Found: fmt.Sprintf("no answer within %v", timeout), Fix: c.Hint}}
	}
}

// Checks is every check briskctl doctor runs, in the order it prints them.
func Checks() []Check {
	return []Check{
		configCheck,
		containerdReachable,
		containerdSnapshotter,
		usageCheck,
		containerdRuntime,
		shimCheck,
		criAnnotations,
		upperMount,
		upperQuota,
		upperExt4,
		headroomCheck,
		tmpfsBudget,
		spoolFS,
		spoolPending,
		logdCheck,
		s3Check,
		diskCheck,
	}
}

func pass(found string, args ...any) []Result {
	return []Result{{Status: Pass, Found: fmt.Sprintf(found, args...)}}
}

func one(s Status, found, fix string) []Result {
	return []Result{{Status: s, Found: found, Fix: fix}}
}

// needConfig is the finding of a check that cannot run without a valid
// configuration.
func needConfig(n *Node) []Result {
	return one(Skip, "not checked: the config is invalid ("+n.ConfigPath+")", "fix the config first (see config/valid)")
}
