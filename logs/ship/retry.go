package ship

import (
	"context"
	"errors"
	"time"

	"github.com/containerd/log"

	"github.com/brisk-containers/brisk/logs/spool"
)

// Result of one pass over the spool.
type Result struct {
	Shipped []string
	Left    map[string]string // entry dir -> why it is left
}

// ShipPending ships every entry whose owner is gone: finished entries whose
// upload failed, and live entries of shims that died (shipped as
// incomplete). The entry lock makes each one ship once however many shims
// and briskctl flush runs look at the spool at the same time.
func (s *Shipper) ShipPending(ctx context.Context) Result {
	res := Result{Left: map[string]string{}}
	dirs, err := spool.Pending(s.cfg.SpoolDir)
	if err != nil {
		res.Left[s.cfg.SpoolDir] = err.Error()
		return res
	}
	for _, dir := range dirs {
		lock, err := spool.Lock(dir)
		if errors.Is(err, spool.ErrLocked) {
			res.Left[dir] = "owned by a running shim"
			continue
		}
		if err != nil {
			res.Left[dir] = err.Error()
			continue
		}
		err = s.Ship(ctx, dir)
		lock.Close()
		if err != nil {
			res.Left[dir] = err.Error()
			continue
		}
		res.Shipped = append(res.Shipped, dir)
	}
	return res
}

// RetryLoop ships pending entries in the background until ctx ends, with
// exponential back-off while something is left that could still ship.
func (s *Shipper) RetryLoop(ctx context.Context) {
	backoff := time.Second
	for {
		res := s.ShipPending(ctx)
		for _, d := range res.Shipped {
			log.G(ctx).WithField("entry", d).Info("shipped a pending log")
		}
		retryable := false
		for _, why := range res.Left {
			if why != "owned by a running shim" {
				retryable = true
			}
		}
		if retryable {
			backoff = min(backoff*2, time.Minute)
		} else {
			backoff = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}
