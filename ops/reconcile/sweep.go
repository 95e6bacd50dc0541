package reconcile

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/lienthong/lienthong/store"
)

// sweepCursor is where the background sweep has got to, so a restart or
// another instance taking the lease over goes on from there.
const sweepCursor = "reconcile/sweep"

// page is how many ledger rows a sweep reads at a time.
const page = 50

// Report counts a pass's results per source and outcome.
type Report map[string]map[string]int

func (rep Report) add(r Result) {
	if rep[r.Source] == nil {
		rep[r.Source] = map[string]int{}
	}
	rep[r.Source][r.Outcome]++
}

// Pass checks every dossier of the ledger (of sources; nil: all) once, at
// the configured rate, calling each with every result (if not nil), and
// stops after limit dossiers (<= 0: none). A lookup that fails is counted
// as "error" and the pass goes on.
func (r *Reconciler) Pass(ctx context.Context, sources []string, limit int, each func(Result, error)) (Report, error) {
	rep := Report{}
	pace := r.pacer()
	defer pace.Stop()
	after, n := "", 0
	for {
		batch, err := r.st.ReconcileBatch(ctx, store.ReconcileFilter{After: after, Sources: sources, Limit: page})
		if err != nil || len(batch) == 0 {
			return rep, err
		}
		for _, e := range batch {
			if limit > 0 && n >= limit {
				return rep, nil
			}
			if err := wait(ctx, pace); err != nil {
				return rep, err
			}
			res, err := r.Check(ctx, e)
			if err != nil {
				res.Outcome = "error"
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
			}
			rep.add(res)
			if each != nil {
				each(res, err)
			}
			after, n = e.DossierID, n+1
		}
	}
}

// Run sweeps the ledger over and over until ctx ends, at the configured
// rate, every Sample-th lookup a random dossier; the sweep's position is
// kept in the store. For one instance at a time (under a lease). It never
// fails: a failed lookup or store call is logged and the sweep goes on
// (from the page it was at), since the portal or the database being down
// is the breakers' and the alerts' business, and reconciliation can wait.
func (r *Reconciler) Run(ctx context.Context) error {
	pace := r.pacer()
	defer pace.Stop()
	after, last, lookups := "", "", 0
	if b, err := r.st.GetCursor(ctx, sweepCursor); err == nil {
		after = string(b)
	} else if ctx.Err() == nil {
		r.log.Warn("reconciliation: sweep position unreadable; starting from the first dossier", "error", err.Error())
	}
	for ctx.Err() == nil {
		batch, err := r.st.ReconcileBatch(ctx, store.ReconcileFilter{After: after, Limit: page})
		if err != nil {
			r.retryLater(ctx, pace, "read the ledger", err)
			continue
		}
		if len(batch) == 0 {
			if after != "" {
				r.log.Info("reconciliation sweep complete; starting again")
			}
			after = ""
			if err := r.st.PutCursor(ctx, sweepCursor, nil); err != nil {
				r.retryLater(ctx, pace, "store the sweep position", err)
			}
			_ = wait(ctx, pace) // an empty ledger: no busy loop
			continue
		}
		for _, e := range batch {
			if r.cfg.Sample > 0 && lookups%r.cfg.Sample == r.cfg.Sample-1 {
				r.sample(ctx, pace, max(last, e.DossierID))
				lookups++
			}
			if wait(ctx, pace) != nil {
				return nil
			}
			if _, err := r.Check(ctx, e); err != nil && ctx.Err() == nil {
				r.log.Warn("reconciliation check failed", "dossier", e.DossierID, "source", e.Source, "error", err.Error())
			}
			lookups++
			after, last = e.DossierID, max(last, e.DossierID)
		}
		if err := r.st.PutCursor(ctx, sweepCursor, []byte(after)); err != nil {
			r.retryLater(ctx, pace, "store the sweep position", err)
		}
	}
	return nil
}

// retryLater logs a failed store call and waits a while before the next.
func (r *Reconciler) retryLater(ctx context.Context, pace *time.Ticker, what string, err error) {
	if ctx.Err() != nil {
		return
	}
	r.log.Warn("reconciliation: could not "+what+"; trying again", "error", err.Error())
	for range 10 {
		if wait(ctx, pace) != nil {
			return
		}
	}
}

// sample checks one dossier at a random point of the ledger's ID range
// seen so far (up to hi).
func (r *Reconciler) sample(ctx context.Context, pace *time.Ticker, hi string) {
	batch, err := r.st.ReconcileBatch(ctx, store.ReconcileFilter{After: randomBelow(hi), Limit: 1})
	if err != nil || len(batch) == 0 || wait(ctx, pace) != nil {
		return
	}
	if _, err := r.Check(ctx, batch[0]); err != nil && ctx.Err() == nil {
		r.log.Warn("reconciliation sample failed", "dossier", batch[0].DossierID, "source", batch[0].Source, "error", err.Error())
	}
}

// randomBelow is a random string ordered before hi: a prefix of hi with
// its last byte lowered at random, so that the dossier after it is drawn
// from the range [first ID, hi].
func randomBelow(hi string) string {
	if hi == "" {
		return ""
	}
	i := rand.IntN(len(hi))
	// 1..hi[i], ASCII: PostgreSQL's text takes neither NUL nor a lone
	// byte of a multi-byte character.
	return hi[:i] + string([]byte{byte(1 + rand.IntN(int(min(hi[i], 0x7f))))})
}

func (r *Reconciler) pacer() *time.Ticker {
	return time.NewTicker(time.Duration(float64(time.Second) / r.cfg.Rate))
}

func wait(ctx context.Context, pace *time.Ticker) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-pace.C:
		return nil
	}
}
