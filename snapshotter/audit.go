//go:build linux

package snapshotter

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/brisk-containers/brisk/snapshotter/upper"
	"github.com/containerd/log"
)

// BudgetAudit compares what the tmpfs budget has booked with what justifies
// a booking: the limit of every live tmpfs upper, and the limit of every
// upper still in use after its snapshot went (draining).
type BudgetAudit struct {
	// Reserved is what the budget has booked.
	Reserved int64
	// Expected is the sum of the limits of the live and draining uppers.
	Expected int64
	// Problems names each upper whose booking is wrong, sorted.
	Problems []string
}

// OK reports whether the budget is exactly what the uppers justify.
func (a BudgetAudit) OK() bool { return len(a.Problems) == 0 && a.Reserved == a.Expected }

// errAudited rolls back the audit's transaction, which writes nothing.
var errAudited = errors.New("audit done")

// AuditBudget checks the budget against the live uppers. It holds a write
// transaction, rolled back, while it looks: Prepare, Commit and Remove
// change the budget inside theirs, so the audit never sees one half done.
func (s *Snapshotter) AuditBudget(ctx context.Context) (BudgetAudit, error) {
	var a BudgetAudit
	err := s.ms.WithTransaction(ctx, true, func(ctx context.Context) error {
		ids, err := idMap(ctx)
		if err != nil {
			return err
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		booked := s.tmpfs.Reservations()
		_, a.Reserved = s.tmpfs.Budget()

		want := make(map[string]int64, len(s.placements)+len(s.draining))
		for id, rec := range s.placements {
			if rec.Kind != upper.KindTmpfs {
				continue
			}
			if _, ok := ids[id]; !ok {
				a.Problems = append(a.Problems, fmt.Sprintf("snapshot %s: placed on a tmpfs, but the metadata does not know it", id))
			}
			want[id] = rec.Limits.Bytes
		}
		for id, bytes := range s.draining {
			want[id] = bytes
		}
		// Snapshots being created, booked under their directory's
		// temporary name until the transaction gives them an ID.
		for name, bytes := range s.preparing {
			want[name] = bytes
		}
		var sum int64
		for id, bytes := range booked {
			sum += bytes
			if _, ok := want[id]; !ok {
				a.Problems = append(a.Problems, fmt.Sprintf("snapshot %s: %d bytes booked for no live upper", id, bytes))
			}
		}
		for id, bytes := range want {
			a.Expected += bytes
			if got, ok := booked[id]; !ok || got != bytes {
				a.Problems = append(a.Problems, fmt.Sprintf("snapshot %s: %d bytes booked, its upper's limit is %d", id, got, bytes))
			}
		}
		if sum != a.Reserved {
			a.Problems = append(a.Problems, fmt.Sprintf("the budget counts %d bytes reserved, its bookings add up to %d", a.Reserved, sum))
		}
		return errAudited
	})
	if !errors.Is(err, errAudited) {
		return BudgetAudit{}, err
	}
	sort.Strings(a.Problems)
	return a, nil
}

// CheckBudget audits the budget and logs a violation at error level: it
// means the node may over-commit its memory, or refuse containers it has
// room for, and only a restart rebuilds the books. It runs at start and from
// metrics scrapes, at most once per metrics.DefaultAuditInterval.
func (s *Snapshotter) CheckBudget(ctx context.Context) (BudgetAudit, error) {
	a, err := s.AuditBudget(ctx)
	if err != nil {
		return a, err
	}
	if !a.OK() {
		log.G(ctx).WithFields(log.Fields{"reserved": a.Reserved, "expected": a.Expected, "problems": a.Problems}).
			Error("TMPFS BUDGET VIOLATED: reserved bytes differ from the sum of the live uppers' limits")
	}
	return a, nil
}
