// Package hub assembles the running hub from its configuration: pollers per
// provincial portal, the Watermill router over Kafka (normalise, national
// sink) and the durable store.
package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/ingest"
	"github.com/lienthong/lienthong/progress"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/store"
)

// Store is the durable state the hub's stages share.
type Store interface {
	ingest.Cursors
	router.Ledger
	store.Leaser
	IndexIdentities(ctx context.Context, links []store.IdentityLink) error
	CountQuarantine(ctx context.Context, source string) (int, error)
	Close() error
}

// Hub is a running hub.
type Hub struct {
	cfg      Config
	store    Store
	counters *progress.Counters
	log      *slog.Logger
}

// New returns a hub over an open store. Counters may be shared with the
// caller to watch progress.
func New(cfg Config, st Store, counters *progress.Counters, log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	if counters == nil {
		counters = progress.New()
	}
	if cfg.Instance == "" {
		cfg.Instance = "hub"
	}
	return &Hub{cfg: cfg, store: st, counters: counters, log: log}
}

// Run runs the hub until ctx ends, then stops pulling, lets in-flight
// messages finish and returns.
func (h *Hub) Run(ctx context.Context) error {
	sources, err := h.sources()
	if err != nil {
		return err
	}
	topics := router.Topics{Prefix: h.cfg.Kafka.TopicPrefix}
	wlog := watermill.NewSlogLoggerWithLevelMapping(h.log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})

	pub, err := kafka.NewPublisher(h.publisherConfig(), wlog)
	if err != nil {
		return fmt.Errorf("kafka publisher: %w", err)
	}
	defer pub.Close()

	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, wlog)
	if err != nil {
		return fmt.Errorf("router: %w", err)
	}
	r.AddMiddleware(middleware.Recoverer)

	norm := router.NewNormaliser(h.store, h.counters, h.log, h.cfg.Instance)
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for _, src := range sources {
		sub, err := kafka.NewSubscriber(h.subscriberConfig("normalise-"+src.name), wlog)
		if err != nil {
			return fmt.Errorf("kafka subscriber: %w", err)
		}
		closers = append(closers, sub.Close)
		r.AddHandler("normalise-"+src.name, topics.Raw(src.name), sub, topics.Canonical(), pub, norm.Handle)
	}

	portal, err := national.New(national.Config{
		BaseURL: h.cfg.National.BaseURL, Username: h.cfg.National.Username, Password: h.cfg.National.Password,
		HTTPClient: &http.Client{Timeout: durationOr(h.cfg.National.Timeout, 30*time.Second)},
	})
	if err != nil {
		return err
	}
	units := map[string]national.Unit{}
	for _, src := range sources {
		units[src.name] = src.unit
	}
	sink := router.NewNationalSink(router.NationalSinkConfig{
		Units: units, Linger: h.cfg.National.Linger, Instance: h.cfg.Instance,
	}, portal, h.store, h.counters, h.log)
	sinkSub, err := kafka.NewSubscriber(h.subscriberConfig("national"), wlog)
	if err != nil {
		return fmt.Errorf("kafka subscriber: %w", err)
	}
	closers = append(closers, sinkSub.Close)
	r.AddConsumerHandler("national", topics.Canonical(), sinkSub, sink.Handle)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(sources)+2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		sink.Run(runCtx)
	}()
	go func() {
		defer wg.Done()
		norm.Run(runCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.Run(runCtx); err != nil {
			errs <- fmt.Errorf("router: %w", err)
			cancel()
		}
	}()
	select {
	case <-r.Running():
	case <-runCtx.Done():
	}
	// Every instance runs the router; each poller runs on one instance at a
	// time, the holder of its lease. Another takes over within the lease's
	// TTL when that instance dies.
	holder := fmt.Sprintf("%s/%d/%s", h.cfg.Instance, os.Getpid(), watermill.NewShortUUID())
	ttl := durationOr(h.cfg.LeaseTTL, 10*time.Second)
	for _, src := range sources {
		p := &ingest.Poller{
			Source: src.name, Pull: src.pull, Topic: topics.Raw(src.name), Publisher: pub,
			Cursors: h.store, Events: h.store, Instance: h.cfg.Instance,
			Interval: durationOr(src.interval, time.Second), Counters: h.counters, Logger: h.log,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := store.Lead(runCtx, h.store, "poller:"+src.name, holder, ttl, func(ctx context.Context) error {
				h.log.Info("poller leading", "source", src.name, "holder", holder)
				return p.Run(ctx)
			})
			if err != nil && runCtx.Err() == nil {
				errs <- fmt.Errorf("poller %s: %w", src.name, err)
				cancel()
			}
		}()
	}
	h.log.Info("hub running", "instance", h.cfg.Instance, "sources", len(sources))
	<-runCtx.Done()
	h.log.Info("hub stopping: no more pulls, finishing messages in flight")
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	h.log.Info("hub stopped")
	return errors.Join(all...)
}

func (h *Hub) publisherConfig() kafka.PublisherConfig {
	c := kafka.PublisherConfig{Brokers: h.cfg.Kafka.Brokers, ClientID: "lienthong-" + h.cfg.Instance}
	if h.cfg.Kafka.Partitions > 0 {
		c.CreateTopics = &kafka.TopicCreation{Partitions: h.cfg.Kafka.Partitions, ReplicationFactor: h.cfg.Kafka.ReplicationFactor}
	}
	c.TLS, c.SASL = h.security()
	return c
}

func (h *Hub) subscriberConfig(group string) kafka.SubscriberConfig {
	session := durationOr(h.cfg.Kafka.SessionTimeout, 10*time.Second)
	c := kafka.SubscriberConfig{
		Brokers: h.cfg.Kafka.Brokers, ConsumerGroup: h.cfg.Kafka.GroupPrefix + "lienthong-" + group,
		SessionTimeout: session, HeartbeatInterval: session / 3,
		// Group members (and their member IDs) name their instance.
		ClientID: "lienthong-" + h.cfg.Instance,
	}
	if h.cfg.Kafka.Partitions > 0 {
		// Subscribers start before the first publish: whoever comes first
		// creates the topic, with the configured partitions either way.
		c.CreateTopics = &kafka.TopicCreation{Partitions: h.cfg.Kafka.Partitions, ReplicationFactor: h.cfg.Kafka.ReplicationFactor}
	}
	c.TLS, c.SASL = h.security()
	return c
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
