package hub

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/ops/metrics"
	"github.com/lienthong/lienthong/ops/metrics/progress"
	"github.com/lienthong/lienthong/ops/reconcile"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/seal"
	"github.com/lienthong/lienthong/schemas"
)

// parts are the hub's components, built and connected by build; nothing
// runs yet.
type parts struct {
	sources []source
	names   []string // the sources'
	topics  router.Topics
	wlog    watermill.LoggerAdapter
	pub     *seal.Publisher
	router  *message.Router
	metrics *metrics.Metrics
	norm    *router.Normaliser
	sink    *router.NationalSink
	l4      *level4
	// handlers are watched: one stopping stops the hub.
	handlers []watched
	// Filled in as the handlers are added: per topic, the one handler that
	// quarantines a message it cannot open (the others skip it), with the
	// format a replay puts back on that topic.
	quarantineBy map[string]string
	// closers end the subscribers and SMTP sessions, before the publisher.
	closers []func() error
	subs    []*kafka.Subscriber
	tracer  *tracing.Provider // nil: tracing off
	// national is the national portal's client, shared by the sink and
	// the reconciler (one session per unit).
	national *national.Client
	// reconciler compares the ledger with the national portal.
	reconciler *reconcile.Reconciler
}

// assigned is the Kafka partitions this process consumes now, by topic.
func (p *parts) assigned() map[string][]int {
	out := map[string][]int{}
	for _, s := range p.subs {
		for topic, ps := range s.Assigned() {
			out[topic] = append(out[topic], ps...)
		}
	}
	return out
}

// close closes what build opened.
func (p *parts) close() {
	for _, c := range p.closers {
		_ = c()
	}
	_ = p.pub.Close()
	_ = p.tracer.Shutdown() // the spans of all the above
}

// build opens the Kafka publisher and subscribers and builds the router
// with its handlers. On error it closes what it had opened.
func (h *Hub) build() (_ *parts, err error) {
	sources, err := h.sources()
	if err != nil {
		return nil, err
	}
	p := &parts{sources: sources, topics: router.Topics{Prefix: h.cfg.Kafka.TopicPrefix},
		wlog:         watermill.NewSlogLoggerWithLevelMapping(h.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug}),
		quarantineBy: map[string]string{}}
	// Every message goes to Kafka sealed with the store's key set, and is
	// opened before a handler sees it.
	keys, err := h.cfg.Store.MessageKeys()
	if err != nil {
		return nil, fmt.Errorf("kafka messages: %w", err)
	}
	if p.pub, err = newPublisher(h.publisherConfig(), keys, p.wlog); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if err := h.startTracing(p); err != nil {
		return nil, err
	}
	if err := h.buildRouter(p, keys); err != nil {
		return nil, err
	}
	for _, add := range []func(*parts) error{h.addNormalisers, h.addNationalSink, h.addLevel4, h.addReconciler} {
		if err := add(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// buildRouter makes the router and its router-wide middleware.
func (h *Hub) buildRouter(p *parts, keys seal.Keys) error {
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, p.wlog)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	p.router = r
	p.names = make([]string, len(p.sources))
	for i, src := range p.sources {
		p.names[i] = src.name
	}
	opener := &seal.Opener{Keys: keys, Store: h.store, QuarantineBy: p.quarantineBy,
		Instance: h.cfg.Instance, Log: h.log,
		Quarantined: func(source string) { h.counters.Add(source, progress.Quarantined, 1) }}
	r.AddMiddleware(p.tracer.Middleware, middleware.Recoverer, opener.Middleware)
	p.metrics = metrics.New(h.counters, h.breakers, p.names)
	r.AddMiddleware(p.metrics.Middleware(""))
	if h.cfg.Router.DuplicateDeliveries {
		h.log.Warn("router: every message is handled twice (router.duplicate_deliveries); a test setting")
		r.AddMiddleware(middleware.Duplicator)
	}
	return nil
}

// addHandler adds a handler, made by add over a subscriber of its own in
// its own consumer group (named after the handler), whose last error is
// kept to say why the handler stopped if it does.
func (h *Hub) addHandler(p *parts, name, topic string, add func(message.Subscriber) *message.Handler) (*message.Handler, error) {
	tap := &errorTap{LoggerAdapter: p.wlog, last: new(atomic.Pointer[string])}
	cfg := h.subscriberConfig(name)
	cfg.TopicWindowMessages = topicWindow(name)
	sub, err := kafka.NewSubscriber(cfg, tap)
	if err != nil {
		return nil, fmt.Errorf("kafka subscriber %s: %w", name, err)
	}
	p.closers = append(p.closers, sub.Close)
	p.subs = append(p.subs, sub)
	hd := add(sub)
	p.handlers = append(p.handlers, watched{name, topic, hd, tap})
	return hd, nil
}

// topicWindow is how many messages the named handler's subscriber keeps in
// flight: what the hub holds in memory (each message also a goroutine).
// The national sink needs many dossiers at hand to fill its calls; the
// other handlers work one message at a time and need only enough to cover
// their round trips: 64 kept them busy in `hub bench`, and 256 cost 70 MB
// more at its peak.
func topicWindow(name string) int {
	switch {
	case name == "national":
		return 2048
	case strings.HasPrefix(name, "normalise-"):
		// A change feed lists every change, so a raw topic holds runs of
		// one dossier's versions, each waiting for the one before: the
		// window must span more dossiers to keep the normaliser busy (with
		// 64 it held `hub bench` steady back; 256 cost 35 MB more at the
		// peak of a backlog).
		return 128
	}
	return 64
}

// addNormalisers adds a normaliser handler per source, from its raw topic
// to the canonical one.
func (h *Hub) addNormalisers(p *parts) error {
	mapper, err := h.cfg.Mapper()
	if err != nil {
		return err
	}
	p.norm = router.NewNormaliser(mapper, h.store, h.counters, h.log, h.cfg.Instance)
	p.norm.Resolved = p.metrics.Resolved
	for _, src := range p.sources {
		name, topic := "normalise-"+src.name, p.topics.Raw(src.name)
		if _, err := h.addHandler(p, name, topic, func(sub message.Subscriber) *message.Handler {
			return p.router.AddHandler(name, topic, sub, p.topics.Canonical(), keepOpen{p.pub}, p.norm.Handle)
		}); err != nil {
			return err
		}
		p.quarantineBy[name] = schemas.FormatRawMessage
	}
	return nil
}

// addNationalSink adds the consumer of the canonical topic that sends the
// dossiers to the national portal.
func (h *Hub) addNationalSink(p *parts) error {
	portal, err := h.nationalClient()
	if err != nil {
		return err
	}
	p.national = portal
	units := unitsOf(p.sources)
	m := p.metrics
	p.sink = router.NewNationalSink(router.NationalSinkConfig{
		Units: units, Linger: h.cfg.National.Linger, Concurrency: h.cfg.National.Concurrency, Calls: h.cfg.National.Calls, Instance: h.cfg.Instance, Effects: h.store,
		Wait: h.waitFor(endpointNational), Retried: func() { h.breakers.CountRetry(endpointNational) },
		Track: m.TrackLag, Resolved: m.Resolved,
		// The breaker paces calls to a portal that is down; a long backoff
		// on top would only delay the catch-up once it is back.
		MaxBackoff: 5 * time.Second,
	}, portal, h.store, h.counters, h.log)
	canonical := p.topics.Canonical()
	if _, err := h.addHandler(p, "national", canonical, func(sub message.Subscriber) *message.Handler {
		return p.router.AddConsumerHandler("national", canonical, sub, p.sink.Handle)
	}); err != nil {
		return err
	}
	p.quarantineBy["national"] = schemas.FormatCanonical
	return nil
}

// nationalClient is the national portal's client, through its breaker.
func (h *Hub) nationalClient() (*national.Client, error) {
	return national.New(national.Config{
		BaseURL: h.cfg.National.BaseURL, Username: h.cfg.National.Username, Password: h.cfg.National.Password,
		HTTPClient: h.checkedClient(endpointNational, h.cfg.National.Timeout, national.InternalError),
	})
}

// addLevel4 builds the configured level-4 flows and adds their handlers.
func (h *Hub) addLevel4(p *parts) error {
	resync := &router.Resyncer{Ledger: h.store, Publisher: p.pub, Topic: p.topics.Canonical()}
	l4, err := h.buildLevel4(p.sources, resync, &notify.Publisher{Publisher: p.pub, Topic: p.topics.Notices()})
	if err != nil {
		return err
	}
	p.l4 = l4
	if l4.mail != nil {
		p.closers = append(p.closers, l4.mail.Close)
	}
	for _, spec := range l4.handlers(p.topics) {
		hd, err := h.addHandler(p, spec.name, spec.topic, func(sub message.Subscriber) *message.Handler {
			if spec.handle != nil {
				return p.router.AddHandler(spec.name, spec.topic, sub, spec.out, keepOpen{p.pub}, spec.handle)
			}
			return p.router.AddConsumerHandler(spec.name, spec.topic, sub, spec.consume)
		})
		if err != nil {
			return err
		}
		if spec.quarantine != "" {
			p.quarantineBy[spec.name] = spec.quarantine
		}
		hd.AddMiddleware(h.retry(spec.needs, p.wlog))
		if len(spec.needs) > 0 {
			// Inside Retry, so each attempt waits: while a system the
			// handler needs is down, the message waits in Kafka.
			hd.AddMiddleware(h.breakers.WaitMiddleware(spec.needs...))
		}
	}
	return nil
}

// retry retries a failed message a few times, counting each retry against
// the systems needed: an external system that fails now often answers a
// moment later. Past these retries the message is redelivered.
func (h *Hub) retry(needs []string, log watermill.LoggerAdapter) message.HandlerMiddleware {
	return middleware.Retry{MaxRetries: 3, InitialInterval: 500 * time.Millisecond,
		MaxInterval: 5 * time.Second, Multiplier: 2, Logger: log,
		OnRetryHook: func(int, time.Duration) {
			for _, n := range needs {
				h.breakers.CountRetry(n)
			}
		}}.Middleware
}
