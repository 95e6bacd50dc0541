package hub

import (
	"context"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/ops/reconcile"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/schemas"
)

// addReconciler builds the comparison of the ledger with the national
// portal: the background job when reconcile.rate is set, and the
// operators' resync in any case.
func (h *Hub) addReconciler(p *parts) error {
	pub := &router.Resyncer{Ledger: h.store, Publisher: p.pub, Topic: p.topics.Canonical(), Reason: "reconcile"}
	p.reconciler = h.newReconciler(p.national, pub, p.metrics.ReconcileChecked, unitsOf(p.sources))
	return nil
}

// newReconciler is the reconciler over the configuration; pub may be nil
// for one that only reports (`hub reconcile` without --resync).
func (h *Hub) newReconciler(portal reconcile.Portal, pub reconcile.Republisher, checked func(source, result string), units map[string]national.Unit) *reconcile.Reconciler {
	c := h.cfg.Reconcile
	sample := c.Sample
	switch {
	case sample == 0:
		sample = 4
	case sample < 0:
		sample = 0
	}
	expect := func(ctx context.Context, ds []*schemas.Dossier) (map[string]router.Expectation, error) {
		return router.Expected(ctx, h.store, ds)
	}
	return reconcile.New(reconcile.Config{Units: units, Rate: c.Rate, Sample: sample, Grace: c.Grace,
		AutoResync: c.AutoResync, Checked: checked, Log: h.log}, h.store, portal, expect, pub)
}

// unitsOf maps each source to the national unit its dossiers go as.
func unitsOf(sources []source) map[string]national.Unit {
	units := map[string]national.Unit{}
	for _, src := range sources {
		units[src.name] = src.unit
	}
	return units
}

// ReconcileOptions are `hub reconcile`'s.
type ReconcileOptions struct {
	Sources []string // nil: every configured source
	Limit   int      // dossiers to check at most; <= 0: all
	Rate    float64  // lookups a second; <= 0: reconcile.rate, else 2
	// Resync sends each drifted dossier through the pipeline again (it
	// publishes to Kafka, as the hub does).
	Resync bool
}

// Reconcile runs one reconciliation pass over the ledger of st, recording
// what it finds as the background job does, and calls each with every
// result.
func Reconcile(ctx context.Context, cfg Config, st Store, o ReconcileOptions, each func(reconcile.Result, error)) (reconcile.Report, error) {
	if o.Rate > 0 {
		cfg.Reconcile.Rate = o.Rate
	}
	cfg.Reconcile.AutoResync = o.Resync
	h := New(cfg, st, nil, nil)
	portal, err := h.nationalClient()
	if err != nil {
		return nil, err
	}
	units := map[string]national.Unit{}
	for _, c := range cfg.Sources {
		units[c.Name] = unitOf(c)
	}
	var pub reconcile.Republisher
	if o.Resync {
		p, err := NewPublisher(cfg, watermill.NopLogger{})
		if err != nil {
			return nil, err
		}
		defer p.Close()
		pub = &router.Resyncer{Ledger: st, Publisher: p, Topic: router.Topics{Prefix: cfg.Kafka.TopicPrefix}.Canonical(), Reason: "reconcile"}
	}
	return h.newReconciler(portal, pub, nil, units).Pass(ctx, o.Sources, o.Limit, each)
}
