// Package broker starts an embedded, single-node Kafka-compatible broker
// (franz-go's kfake) for development and tests. It speaks the Kafka wire
// protocol over TCP, so any Kafka client (kafka-go, franz-go, librdkafka…)
// can talk to it.
//
// With Config.DataDir set, kfake persists topics, record segments and
// consumer-group state (committed offsets) to disk and reloads them on the
// next Start with the same DataDir, so a broker can be stopped and started
// again on the same address without losing data.
//
// One kfake deviation from Kafka matters for consumer-group clients: a member
// waiting in JoinGroup while a rebalance is pending is still subject to its
// session timeout, and when that expires it is dropped without an answer to
// its JoinGroup (Kafka counts waiting for the rebalance as heartbeating). So
// if a rebalance lasts longer than the session timeout, because a member is
// slow to rejoin or vanished without leaving, the members that did rejoin are
// dropped too and wait for their JoinGroup request to time out. Clients with a
// rebalance timeout below their session timeout avoid this: the stalled
// rebalance is then completed without the late member first.
//
// Another one is a kfake bug, which Broker works around: kfake starts a
// member's session timer only when it answers the member (or the member
// heartbeats or commits). A member whose process dies while its first
// JoinGroup waits for a rebalance is still part of the generation that forms
// (its JoinGroup is pending), gets partitions from the leader, and, as the
// answer to its closed connection is lost, may never get a session timer: it
// then never expires and its partitions are never consumed again, although
// the group looks stable (a SIGKILLed hub instance left half of the
// partitions of its groups stranded this way). Kafka schedules the session
// expiry of every member of a generation when it forms, and so does Broker,
// by heartbeating once for every member it sees in a newly formed generation
// (see sessionKeeper): a dead member then expires after its session timeout
// and the group rebalances without it.
package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures the embedded broker.
type Config struct {
	// Addr is the host:port to listen on. Empty means "127.0.0.1:0"
	// (a random free port on loopback). Use Addrs() to learn the port.
	Addr string

	// DataDir enables persistence of topics, messages and committed
	// consumer-group offsets. Empty keeps everything in memory.
	DataDir string

	// Partitions is the number of partitions of auto-created topics and of
	// SeedTopics. Zero means 1: a dev broker with one partition per topic
	// keeps total order unless the caller asks for more.
	Partitions int

	// SeedTopics are created at start (only when DataDir holds no state yet).
	SeedTopics []string

	// DisableAutoTopicCreation makes the broker refuse to create topics on
	// metadata requests; clients then have to create them explicitly.
	DisableAutoTopicCreation bool

	// GroupMinSessionTimeout is the smallest consumer-group session timeout
	// the broker accepts. Zero keeps kfake's default (6s); tests may lower it
	// so that crashed members are evicted faster.
	GroupMinSessionTimeout time.Duration

	// SyncWrites fsyncs every produced batch (only with DataDir). Slower, but
	// survives a machine crash, not only a clean Close.
	SyncWrites bool

	// Opts are passed to kfake as-is after the options derived from the
	// fields above, for anything not covered here (SASL, TLS, logging…).
	Opts []kfake.Opt
}

// Broker is a running embedded broker.
type Broker struct {
	c         *kfake.Cluster
	addrs     []string
	keeper    *sessionKeeper
	closeOnce sync.Once
}

// Start starts the broker. Cancelling ctx closes it, as does Close.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("broker: invalid Addr %q: %w", addr, err)
	}
	partitions := cfg.Partitions
	if partitions <= 0 {
		partitions = 1
	}

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		// kfake always asks to listen on 127.0.0.1:<port>; we substitute our
		// own address so callers can bind any host and a fixed port (needed
		// to restart the broker on the same address).
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return listen(ctx, network, addr)
		}),
		kfake.DefaultNumPartitions(partitions),
	}
	if !cfg.DisableAutoTopicCreation {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if len(cfg.SeedTopics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(partitions), cfg.SeedTopics...))
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if cfg.GroupMinSessionTimeout > 0 {
		opts = append(opts, kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout))
	}
	opts = append(opts, cfg.Opts...)

	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: start kfake: %w", err)
	}
	b := &Broker{c: c, addrs: c.ListenAddrs()}
	if b.keeper, err = startSessionKeeper(c, b.addrs); err != nil {
		c.Close()
		return nil, fmt.Errorf("broker: start session keeper: %w", err)
	}
	// The registration is left in place after Close: Close is idempotent.
	context.AfterFunc(ctx, func() { _ = b.Close() })
	return b, nil
}

// listen retries briefly on "address already in use": right after a Close the
// previous listener of the same port may still be releasing it.
func listen(ctx context.Context, network, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	deadline := time.Now().Add(5 * time.Second)
	for {
		ln, err := lc.Listen(ctx, network, addr)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return ln, err
		}
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addrs returns the host:port addresses clients should use as bootstrap
// brokers.
func (b *Broker) Addrs() []string {
	return append([]string(nil), b.addrs...)
}

// Cluster exposes the underlying kfake cluster (for fault injection in
// tests).
func (b *Broker) Cluster() *kfake.Cluster { return b.c }

// Close stops the broker. With a DataDir, state is flushed to disk before
// Close returns, so Start with the same DataDir resumes from it. Close is
// idempotent.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.keeper.stop() // first: it uses the cluster
		b.c.Close()
	})
	return nil
}

// TestMain runs a test binary's tests (m.Run) with a broker of cfg started
// for them, its addresses in *addrs, then exits with their status: the
// TestMain of the packages whose tests talk to Kafka.
func TestMain(m interface{ Run() int }, cfg Config, addrs *[]string) {
	b, err := Start(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start broker:", err)
		os.Exit(1)
	}
	*addrs = b.Addrs()
	code := m.Run()
	_ = b.Close()
	os.Exit(code)
}
