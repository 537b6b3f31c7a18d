//go:build linux

package snapshotter

import (
	"sync"
	"testing"
)

// TestReadsRacingRemoveChangeNothing scrapes usage the way /metrics and
// /v1/usage do, and asks for mounts, while a container's snapshot is prepared
// and removed over and over. Reads must never bring a removed snapshot's
// tmpfs back, nor its budget.
func TestReadsRacingRemoveChangeNothing(t *testing.T) {
	e := newEnv(t) // 8Mi per snapshot, 64Mi budget
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = e.sn.Report(e.ctx)
				_, _ = e.sn.Usage(e.ctx, "c")
				_, _ = e.sn.Mounts(e.ctx, "c")
			}
		}()
	}
	// The audit runs alongside and must never see the books wrong.
	audits := make(chan BudgetAudit, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			a, err := e.sn.AuditBudget(e.ctx)
			if err == nil && !a.OK() {
				select {
				case audits <- a:
				default:
				}
			}
		}
	}()
	var failed error
	for i := range 200 {
		if _, err := e.sn.Prepare(e.ctx, "c", ""); err != nil {
			failed = err
			t.Errorf("prepare, iteration %d: %v", i, err)
			break
		}
		if err := e.sn.Remove(e.ctx, "c"); err != nil {
			failed = err
			t.Errorf("remove, iteration %d: %v", i, err)
			break
		}
	}
	close(stop)
	wg.Wait()
	select {
	case a := <-audits:
		t.Errorf("budget audit failed during the race: %+v", a)
	default:
	}
	if failed != nil {
		return
	}
	if a, err := e.sn.AuditBudget(e.ctx); err != nil || !a.OK() {
		t.Errorf("budget audit after the race: %+v %v", a, err)
	}
	if _, inUse := e.sn.Budget(); inUse != 0 {
		t.Errorf("budget reserved with no snapshot left: %d", inUse)
	}
	if ms := mountsUnder(t, e.root); len(ms) != 0 {
		t.Errorf("tmpfs left mounted with no snapshot: %s", ms[0].Mountpoint)
	}
	if _, err := e.sn.Prepare(e.ctx, "after", ""); err != nil {
		t.Errorf("prepare after the race: %v", err)
	}
}
