package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

// SubscriberConfig configures NewSubscriber.
type SubscriberConfig struct {
	// Brokers are the bootstrap broker addresses (host:port). Required.
	Brokers []string

	// ConsumerGroup is the Kafka consumer group. Subscribers with the same
	// group share the topic's partitions and resume from the group's
	// committed offsets. Empty means no group: every subscription reads all
	// partitions from InitialOffset and commits nothing.
	//
	// Each Subscribe call joins the group as a member of its own, and a
	// group rebalances as a whole (eagerly: every member stops all its
	// partitions) whenever a member joins or leaves, whatever topic it
	// subscribes to. Prefer one group per topic: subscriptions to other
	// topics then never pause each other.
	ConsumerGroup string

	// Unmarshaler decodes records. Nil means DefaultMarshaler{}.
	Unmarshaler Unmarshaler

	// InitialOffset is where to start when the group has no committed offset
	// for a partition (or always, without a group): kafkago.FirstOffset
	// (default) or kafkago.LastOffset.
	InitialOffset int64

	// NackResendDelay is how long to wait before redelivering a nacked
	// message. Zero means 100ms.
	NackResendDelay time.Duration

	// CommitInterval is how often acknowledged offsets are committed. Offsets
	// are also committed when partitions are revoked (rebalance) and on
	// Close. Zero means 1s.
	CommitInterval time.Duration

	// RevokeGracePeriod is how long, when a rebalance revokes a partition
	// while one of its messages is being handled, the handler may still ack
	// it (the offset is then committed before the partition moves, so the
	// message is not handled twice). Zero means 5s; negative disables.
	// Close does not wait: it cancels the messages' contexts at once.
	RevokeGracePeriod time.Duration

	// Consumer-group timings; zero values mean HeartbeatInterval 1s,
	// SessionTimeout 10s, RebalanceTimeout 30s, JoinGroupBackoff 1s.
	HeartbeatInterval time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	JoinGroupBackoff  time.Duration

	// PartitionWatchInterval is how often a group checks the topic for new
	// partitions (and rebalances when there are). Zero means 5s.
	PartitionWatchInterval time.Duration

	// FetchMaxWait is the longest a fetch waits for new data; it also bounds
	// how long stopping a partition consumer can take. Zero means 500ms.
	FetchMaxWait time.Duration

	// FetchMaxBytes caps one fetch response per partition. Zero means 10 MiB.
	FetchMaxBytes int

	// FetchAhead is how many messages each partition's reader fetches
	// ahead of the window (kafka-go's QueueCapacity, 100 by default there).
	// Zero means 16: the window holds what handlers work on, and with many
	// partitions per topic and a topic per handler, fetching far ahead is
	// memory the budgets do not bound.
	FetchAhead int

	// WindowMessages and WindowBytes bound how many messages of one
	// partition (and how many bytes of their keys and values) are handed
	// out and not yet acknowledged at once. Within the window order is kept
	// per record key, not per partition: a message is handed out only once
	// every earlier message of its key was acknowledged, while messages of
	// other keys go on. Offsets are committed up to the first message not
	// yet acknowledged. Zero means 256 messages and 8 MiB; WindowMessages 1
	// hands out one message per partition at a time.
	WindowMessages int
	WindowBytes    int

	// TopicWindowMessages and TopicWindowBytes bound the same over all the
	// partitions of one subscription, so memory does not grow with the
	// partition count. Zero means 2048 messages and 32 MiB.
	TopicWindowMessages int
	TopicWindowBytes    int

	// SupersedeBy, for topics whose messages each carry the whole state of
	// their key, names a metadata key holding each message's version (a
	// decimal integer). Of the messages of a key queued behind the one in
	// flight, one whose version is at most that of the last queued gives
	// way to it: it is acknowledged unhandled, and the message handed out
	// says how many it replaced (MetadataSuperseded). Messages without a
	// readable version neither give way nor replace; a key's messages still
	// go one at a time and in order. Empty: none is replaced.
	SupersedeBy string

	// CreateTopics, when non-nil, makes Subscribe create the topic with these
	// settings if it is missing. Nil means Subscribe asks the broker to
	// auto-create it and otherwise waits until it exists.
	CreateTopics *TopicCreation

	// TLS enables TLS when non-nil.
	TLS *tls.Config

	// SASL enables SASL authentication when non-nil.
	SASL *SASLConfig

	// ClientID is sent to the broker. Empty means "lienthong".
	ClientID string
}

func (c *SubscriberConfig) setDefaults() {
	if c.Unmarshaler == nil {
		c.Unmarshaler = DefaultMarshaler{}
	}
	if c.InitialOffset == 0 {
		c.InitialOffset = kafkago.FirstOffset
	}
	if c.NackResendDelay <= 0 {
		c.NackResendDelay = 100 * time.Millisecond
	}
	if c.CommitInterval <= 0 {
		c.CommitInterval = time.Second
	}
	if c.RevokeGracePeriod == 0 {
		c.RevokeGracePeriod = 5 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.RebalanceTimeout <= 0 {
		c.RebalanceTimeout = 30 * time.Second
	}
	if c.JoinGroupBackoff <= 0 {
		c.JoinGroupBackoff = time.Second
	}
	if c.PartitionWatchInterval <= 0 {
		c.PartitionWatchInterval = 5 * time.Second
	}
	if c.WindowMessages <= 0 {
		c.WindowMessages = 256
	}
	if c.WindowBytes <= 0 {
		c.WindowBytes = 8 << 20
	}
	if c.TopicWindowMessages <= 0 {
		c.TopicWindowMessages = 2048
	}
	if c.TopicWindowBytes <= 0 {
		c.TopicWindowBytes = 32 << 20
	}
	if c.FetchMaxWait <= 0 {
		c.FetchMaxWait = 500 * time.Millisecond
	}
	if c.FetchMaxBytes <= 0 {
		c.FetchMaxBytes = 10 << 20
	}
	if c.FetchAhead <= 0 {
		c.FetchAhead = 16
	}
	if c.ClientID == "" {
		c.ClientID = "lienthong"
	}
}

// Subscriber is a Watermill subscriber reading Kafka with kafka-go.
//
// Every assigned partition is consumed by its own goroutine which delivers one
// message at a time and waits for its Ack or Nack: Ack makes the offset
// committable, Nack redelivers the same message after NackResendDelay.
// Messages of one partition (so of one partition key) are therefore handled
// strictly in order, while partitions proceed in parallel.
type Subscriber struct {
	cfg       SubscriberConfig
	logger    watermill.LoggerAdapter
	dialer    *kafkago.Dialer
	transport *kafkago.Transport
	client    *kafkago.Client

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // one per running subscription
	// assigned is, per topic, the partitions being consumed now.
	assigned map[string][]int
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber creates a Subscriber. It connects on Subscribe.
func NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("kafka subscriber: no brokers")
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	cfg.setDefaults()
	if cfg.InitialOffset != kafkago.FirstOffset && cfg.InitialOffset != kafkago.LastOffset {
		return nil, fmt.Errorf("kafka subscriber: InitialOffset must be kafkago.FirstOffset or kafkago.LastOffset, got %d", cfg.InitialOffset)
	}
	mech, err := cfg.SASL.mechanism()
	if err != nil {
		return nil, fmt.Errorf("kafka subscriber: %w", err)
	}
	transport := newTransport(cfg.ClientID, cfg.TLS, mech)
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{
		cfg:       cfg,
		logger:    logger.With(watermill.LogFields{"consumer_group": cfg.ConsumerGroup}),
		dialer:    newDialer(cfg.ClientID, cfg.TLS, mech),
		transport: transport,
		client:    &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: transport, Timeout: 10 * time.Second},
		ctx:       ctx,
		cancel:    cancel,
	}, nil
}

// ErrSubscriberClosed is returned by Subscribe after Close.
var ErrSubscriberClosed = errors.New("kafka subscriber closed")

// SubscribeInitialize creates the topic (or waits for it), so that messages
// published before the first Subscribe are not missed. Implements
// message.SubscribeInitializer.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	defer cancel()
	_, err := ensureTopic(ctx, s.client, topic, s.cfg.CreateTopics, s.logger)
	return err
}

// Subscribe starts consuming topic. The returned channel is closed when ctx
// is cancelled or the Subscriber is closed, after all partition consumers
// stopped and acknowledged offsets were committed.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSubscriberClosed
	}

	out := make(chan *message.Message)
	// subCtx ends with the caller's ctx or with Close; message contexts
	// derive from it so they keep the caller's values.
	subCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)

	sub := &subscription{
		s:      s,
		topic:  topic,
		out:    out,
		logger: s.logger.With(watermill.LogFields{"topic": topic}),
		budget: newBudget(s.cfg.TopicWindowMessages, s.cfg.TopicWindowBytes),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer stop()
		defer cancel()
		if s.cfg.ConsumerGroup == "" {
			sub.runNoGroup(subCtx)
		} else {
			sub.runGroup(subCtx)
		}
	}()
	return out, nil
}

// Assigned returns, per topic, the partitions this subscriber consumes
// now (the group's assignment to it), sorted.
func (s *Subscriber) Assigned() map[string][]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]int, len(s.assigned))
	for topic, ps := range s.assigned {
		out[topic] = slices.Clone(ps)
	}
	return out
}

// setAssigned records topic's partitions; nil: none.
func (s *Subscriber) setAssigned(topic string, ps []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.assigned == nil {
		s.assigned = map[string][]int{}
	}
	if len(ps) == 0 {
		delete(s.assigned, topic)
		return
	}
	slices.Sort(ps)
	s.assigned[topic] = ps
}

// Close stops all subscriptions, waits for their partition consumers to exit
// and commits acknowledged offsets. Messages delivered but not acknowledged
// by then will be redelivered (to this group) later. Idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.cancel()
	s.wg.Wait()
	s.transport.CloseIdleConnections()
	return nil
}

// subscription is one Subscribe call.
type subscription struct {
	s      *Subscriber
	topic  string
	out    chan *message.Message
	logger watermill.LoggerAdapter
	budget *budget // shared by the subscription's partition consumers
}

// waitTopic retries until the topic exists (or ctx ends).
func (sub *subscription) waitTopic(ctx context.Context) (int, error) {
	return ensureTopic(ctx, sub.s.client, sub.topic, sub.s.cfg.CreateTopics, sub.logger)
}

// runNoGroup consumes every partition of the topic from InitialOffset,
// without committing.
func (sub *subscription) runNoGroup(ctx context.Context) {
	n, err := sub.waitTopic(ctx)
	if err != nil {
		if ctx.Err() == nil {
			sub.logger.Error("Cannot subscribe", err, nil)
		}
		return
	}
	ps := make([]int, n)
	for p := range n {
		ps[p] = p
	}
	sub.s.setAssigned(sub.topic, ps)
	defer sub.s.setAssigned(sub.topic, nil)
	var wg sync.WaitGroup
	for p := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pc := &partitionConsumer{sub: sub, partition: p, subCtx: ctx}
			pc.run(ctx, sub.s.cfg.InitialOffset)
		}()
	}
	wg.Wait()
}

// runGroup joins the consumer group and runs one generation after another
// until ctx ends. kafka-go's ConsumerGroup rebalances eagerly: at every
// generation change all partitions are revoked (their consumers stop and
// acknowledged offsets are committed) and the new assignment is started.
func (sub *subscription) runGroup(ctx context.Context) {
	cfg := sub.s.cfg
	// Make sure the topic exists: kafka-go's group leader assigns only the
	// partitions it sees at join time.
	if _, err := sub.waitTopic(ctx); err != nil {
		if ctx.Err() == nil {
			sub.logger.Error("Cannot subscribe", err, nil)
		}
		return
	}
	glog := &groupLogger{kafkaLogger: kafkaLogger{l: sub.logger}}
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                     cfg.ConsumerGroup,
		Brokers:                cfg.Brokers,
		Dialer:                 sub.s.dialer,
		Topics:                 []string{sub.topic},
		HeartbeatInterval:      cfg.HeartbeatInterval,
		SessionTimeout:         cfg.SessionTimeout,
		RebalanceTimeout:       cfg.RebalanceTimeout,
		JoinGroupBackoff:       cfg.JoinGroupBackoff,
		PartitionWatchInterval: cfg.PartitionWatchInterval,
		WatchPartitionChanges:  true,
		StartOffset:            cfg.InitialOffset,
		Logger:                 glog,
		ErrorLogger:            kafkaLogger{l: sub.logger, error: true},
	})
	if err != nil {
		sub.logger.Error("Cannot create consumer group", err, nil)
		return
	}
	// Closing the group ends the current generation (our partition consumers
	// stop and commit), then normally leaves the group; leaveGroup makes sure
	// it did.
	stop := context.AfterFunc(ctx, func() { _ = cg.Close() })
	defer func() {
		stop()
		sub.closeGroup(cg, glog.member)
	}()

	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				return
			}
			// kafka-go retries joining by itself (with JoinGroupBackoff);
			// these are reports, e.g. RebalanceInProgress.
			sub.logger.Debug("Consumer group generation failed, retrying", watermill.LogFields{"err": err})
			continue
		}
		glog.setMember(gen.MemberID)
		sub.logger.Debug("Joined consumer group generation", watermill.LogFields{
			"generation": gen.ID, "member": gen.MemberID, "assignments": fmt.Sprint(gen.Assignments[sub.topic]),
		})
		sub.startGeneration(ctx, gen)
	}
}

// closeGroupWait is how long closeGroup waits for kafka-go's ConsumerGroup
// to close before leaving the group itself.
const closeGroupWait = time.Second

// closeGroup closes cg and makes sure the member left the group. By now no
// generation of ours is running (startGeneration returned), so all that
// Close waits for is kafka-go's own loop, which may be inside a JoinGroup
// the coordinator holds until every member rejoined: with a member that
// died (SIGKILL), until its session times out. A stopping hub must not wait
// for that: after closeGroupWait it leaves the group, which lets the
// coordinator go on without us, and after a little more it stops waiting.
func (sub *subscription) closeGroup(cg *kafkago.ConsumerGroup, member func() string) {
	closed := make(chan struct{})
	go func() {
		_ = cg.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(closeGroupWait):
	}
	sub.leaveGroup(member())
	select {
	case <-closed:
	case <-time.After(closeGroupWait):
		sub.logger.Info("Consumer group still joining at close; not waiting for it", nil)
	}
}

// leaveGroup removes member from the consumer group once kafka-go's
// ConsumerGroup is closed. kafka-go normally sends LeaveGroup itself, but not
// when it is closed while it handles a RebalanceInProgress error (its run
// loop then returns without leaving), which is what happens to a subscription
// that ends during a rebalance. Such a member stays registered until its
// session times out, and every rebalance of the group meanwhile waits for it
// to rejoin: the other members have no partitions for up to SessionTimeout
// (and kfake even drops, unanswered, the members waiting in JoinGroup whose
// session expires meanwhile, whose join then hangs for RebalanceTimeout plus
// kafka-go's 5s Timeout). If kafka-go did leave, the coordinator answers
// UNKNOWN_MEMBER_ID, which is fine.
func (sub *subscription) leaveGroup(member string) {
	if member == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := sub.s.client.LeaveGroup(ctx, &kafkago.LeaveGroupRequest{
		GroupID: sub.s.cfg.ConsumerGroup,
		Members: []kafkago.LeaveGroupRequestMember{{ID: member}},
	})
	if err == nil {
		err = resp.Error
	}
	for i := 0; err == nil && i < len(resp.Members); i++ {
		err = resp.Members[i].Error
	}
	if err != nil && !errors.Is(err, kafkago.UnknownMemberId) {
		sub.logger.Info("Leaving consumer group failed", watermill.LogFields{"member": member, "err": err})
	}
}

// groupLogger is the kafka-go Logger of a subscription's ConsumerGroup. It
// also records the member ID the coordinator assigned, which kafka-go only
// exposes through generations (see leaveGroup): a member can be closed after
// joining but before its first generation.
type groupLogger struct {
	kafkaLogger
	mu       sync.Mutex
	memberID string
}

// joinedGroupFormat is what kafka-go logs (with the group ID, the member ID
// and the generation) as soon as a JoinGroup succeeded.
const joinedGroupFormat = "joined group %s as member %s in generation %d"

func (g *groupLogger) Printf(format string, args ...any) {
	if format == joinedGroupFormat && len(args) == 3 {
		if id, ok := args[1].(string); ok {
			g.setMember(id)
		}
	}
	g.kafkaLogger.Printf(format, args...)
}

func (g *groupLogger) setMember(id string) {
	g.mu.Lock()
	g.memberID = id
	g.mu.Unlock()
}

func (g *groupLogger) member() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.memberID
}

// startGeneration starts one consumer per assigned partition, plus the
// committer. All of them stop when the generation ends; the last commit is
// done after every partition consumer has stopped, while the generation's
// coordinator connection is still open.
func (sub *subscription) startGeneration(ctx context.Context, gen *kafkago.Generation) {
	assignments := gen.Assignments[sub.topic]
	offsets := &offsetTracker{acked: map[int]int64{}, committed: map[int]int64{}}
	gen.Start(func(genCtx context.Context) {
		ps := make([]int, 0, len(assignments))
		for _, a := range assignments {
			ps = append(ps, a.ID)
		}
		sub.s.setAssigned(sub.topic, ps)
		defer sub.s.setAssigned(sub.topic, nil)
		// Partition consumers run under a context that ends with either the
		// generation or the subscription, and carries the subscription's
		// values.
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(genCtx, cancel)
		defer stop()

		var wg sync.WaitGroup
		for _, a := range assignments {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pc := &partitionConsumer{sub: sub, partition: a.ID, offsets: offsets, subCtx: ctx}
				pc.run(pctx, a.Offset)
			}()
		}

		ticker := time.NewTicker(sub.s.cfg.CommitInterval)
		defer ticker.Stop()
	loop:
		for {
			select {
			case <-pctx.Done():
				break loop
			case <-ticker.C:
				sub.commit(gen, offsets)
			}
		}
		wg.Wait()
		sub.commit(gen, offsets)
	})
}

func (sub *subscription) commit(gen *kafkago.Generation, offsets *offsetTracker) {
	pending := offsets.pending()
	if len(pending) == 0 {
		return
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{sub.topic: pending}); err != nil {
		// Not fatal: the offsets stay pending and are retried on the next
		// tick; if the generation is over, the new owner re-reads from the
		// last committed offset (at-least-once).
		sub.logger.Info("Offset commit failed", watermill.LogFields{"err": err, "generation": gen.ID})
		return
	}
	offsets.markCommitted(pending)
	sub.logger.Trace("Committed offsets", watermill.LogFields{"offsets": fmt.Sprint(pending)})
}

// offsetTracker holds, per partition, the next offset to commit: one past
// the last message before which every message was acked (the partition's
// window works that out, see window.ack).
type offsetTracker struct {
	mu        sync.Mutex
	acked     map[int]int64
	committed map[int]int64
}

func (o *offsetTracker) ack(partition int, offset int64) {
	o.mu.Lock()
	o.acked[partition] = offset + 1
	o.mu.Unlock()
}

func (o *offsetTracker) pending() map[int]int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	var res map[int]int64
	for p, off := range o.acked {
		if c, ok := o.committed[p]; ok && c == off {
			continue
		}
		if res == nil {
			res = map[int]int64{}
		}
		res[p] = off
	}
	return res
}

func (o *offsetTracker) markCommitted(offsets map[int]int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for p, off := range offsets {
		o.committed[p] = off
	}
}

// partitionConsumer reads one partition and delivers its messages, many at
// once but one at a time per record key (see window).
type partitionConsumer struct {
	sub       *subscription
	partition int
	offsets   *offsetTracker // nil without a consumer group
	// subCtx is the subscription's context. The ctx given to run also ends
	// when the partition is revoked; messages' contexts derive from subCtx
	// so that a rebalance alone does not cancel a handler at once (see
	// RevokeGracePeriod).
	subCtx context.Context
}

func (pc *partitionConsumer) run(ctx context.Context, startOffset int64) {
	cfg := pc.sub.s.cfg
	logger := pc.sub.logger.With(watermill.LogFields{"partition": pc.partition})
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:        cfg.Brokers,
		Topic:          pc.sub.topic,
		Partition:      pc.partition,
		Dialer:         pc.sub.s.dialer,
		MinBytes:       1,
		MaxBytes:       cfg.FetchMaxBytes,
		QueueCapacity:  cfg.FetchAhead,
		MaxWait:        cfg.FetchMaxWait,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: time.Second,
		MaxAttempts:    1 << 30, // the Reader reconnects by itself; never give up
		Logger:         kafkaLogger{l: logger},
		ErrorLogger:    kafkaLogger{l: logger, error: true},
	})
	defer func() {
		if err := r.Close(); err != nil {
			logger.Debug("Closing partition reader", watermill.LogFields{"err": err})
		}
	}()
	if err := r.SetOffset(startOffset); err != nil {
		logger.Error("Cannot set start offset", err, watermill.LogFields{"offset": startOffset})
		return
	}
	logger.Debug("Partition consumer started", watermill.LogFields{"offset": startOffset})

	w := newWindow(cfg.WindowMessages, cfg.WindowBytes, pc.sub.budget)
	w.supersedeBy = cfg.SupersedeBy
	var keys sync.WaitGroup
	// Once the fetch loop returns, wait for the keys' deliveries (and the
	// grace they give handlers of a revoked partition), so the generation's
	// last commit has their acks; then give back what they still hold of
	// the subscription's budget.
	defer w.release()
	defer keys.Wait()
	for {
		if !w.waitRoom(ctx) {
			return
		}
		km, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			logger.Error("Fetch failed", err, nil)
			select {
			case <-ctx.Done():
				return
			case <-time.After(cfg.NackResendDelay):
			}
			continue
		}
		if !pc.sub.budget.take(ctx, messageSize(km)) {
			return
		}
		if first := w.add(km); first {
			keys.Add(1)
			go func() {
				defer keys.Done()
				pc.deliverKey(ctx, w, km, logger)
			}()
		}
	}
}

// deliverKey delivers km, then every message of its key queued behind it in
// the window, one at a time, until the key has nothing queued or ctx ends.
func (pc *partitionConsumer) deliverKey(ctx context.Context, w *window, km kafkago.Message, logger watermill.LoggerAdapter) {
	skipped := 0
	for {
		if !pc.deliver(ctx, km, skipped, logger) {
			return
		}
		next, n, ok := w.done(km, pc.ack)
		if !ok {
			return
		}
		km, skipped = next, n
	}
}

// deliver hands km to the subscriber until it is acked. It returns false
// when ctx ended first (the message then stays uncommitted and will be
// redelivered). superseded is how many older messages of its key it
// replaces (SupersedeBy).
func (pc *partitionConsumer) deliver(ctx context.Context, km kafkago.Message, superseded int, logger watermill.LoggerAdapter) bool {
	cfg := pc.sub.s.cfg
	orig, err := cfg.Unmarshaler.Unmarshal(km)
	if err != nil {
		// A record we cannot decode will never decode: skip it (and let its
		// offset be committed) rather than block the partition forever.
		logger.Error("Cannot unmarshal message, skipping it", err, watermill.LogFields{"offset": km.Offset})
		return true
	}
	if superseded > 0 {
		orig.Metadata.Set(MetadataSuperseded, strconv.Itoa(superseded))
	}
	for {
		msg := orig.Copy() // a fresh message (own Ack/Nack) per delivery
		msgCtx, cancel := context.WithCancel(withMessageInfo(pc.subCtx, MessageInfo{
			Topic: pc.sub.topic, Partition: km.Partition, Offset: km.Offset, Key: km.Key,
		}))
		msg.SetContext(msgCtx)

		if ctx.Err() != nil { // do not hand out messages of a revoked partition
			cancel()
			return false
		}
		select {
		case pc.sub.out <- msg:
		case <-ctx.Done():
			cancel()
			return false
		}
		select {
		case <-msg.Acked():
			cancel()
			return true
		case <-msg.Nacked():
			cancel()
			logger.Trace("Message nacked, redelivering", watermill.LogFields{"uuid": msg.UUID, "offset": km.Offset})
			select {
			case <-ctx.Done():
				return false
			case <-time.After(cfg.NackResendDelay):
			}
		case <-ctx.Done():
			acked := pc.awaitRevoked(msg)
			cancel()
			return acked
		}
	}
}

// awaitRevoked is called when the partition is revoked while msg is being
// handled: if the subscription itself goes on (a rebalance, not Close), give
// the handler RevokeGracePeriod to ack, so the offset is committed before
// another member takes the partition over and the message is not processed
// twice, concurrently.
// It reports whether the handler acked in time.
func (pc *partitionConsumer) awaitRevoked(msg *message.Message) bool {
	grace := pc.sub.s.cfg.RevokeGracePeriod
	if pc.offsets == nil || grace <= 0 || pc.subCtx.Err() != nil {
		return false
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-msg.Acked():
		return true
	case <-msg.Nacked():
	case <-pc.subCtx.Done():
	case <-t.C:
	}
	return false
}

// ack records that every message before offset+1 was acked.
func (pc *partitionConsumer) ack(offset int64) {
	if pc.offsets != nil {
		pc.offsets.ack(pc.partition, offset)
	}
}

// MetadataSuperseded is set on a message handed out in place of older
// messages of its key (SubscriberConfig.SupersedeBy): how many it replaced.
const MetadataSuperseded = "superseded"

type ctxKey struct{}

// MessageInfo tells where a consumed message comes from.
type MessageInfo struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
}

func withMessageInfo(ctx context.Context, info MessageInfo) context.Context {
	return context.WithValue(ctx, ctxKey{}, info)
}

// MessageInfoFromCtx returns the Kafka coordinates of a message delivered by
// a Subscriber, from msg.Context().
func MessageInfoFromCtx(ctx context.Context) (MessageInfo, bool) {
	info, ok := ctx.Value(ctxKey{}).(MessageInfo)
	return info, ok
}
