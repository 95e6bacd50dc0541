package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/lienthong/lienthong/router/kafka/broker"
)

// rawConn speaks the Kafka protocol on one TCP connection, one request at a
// time, with non-flexible request versions (the ones kafka-go's
// ConsumerGroup uses), so that a test controls exactly which connection
// carries which request, and can drop a connection with a request parked.
type rawConn struct {
	c    net.Conn
	corr int32
}

func dialRaw(addr string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c}, nil
}

func (r *rawConn) send(req kmsg.Request) error {
	r.corr++
	buf := make([]byte, 4, 64)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(r.corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len("ghost-test")))
	buf = append(buf, "ghost-test"...)
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	_, err := r.c.Write(buf)
	return err
}

func (r *rawConn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	if err := r.send(req); err != nil {
		return nil, err
	}
	_ = r.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	size := make([]byte, 4)
	if _, err := io.ReadFull(r.c, size); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(size))
	if _, err := io.ReadFull(r.c, body); err != nil {
		return nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != r.corr {
		return nil, fmt.Errorf("correlation ID %d, want %d", corr, r.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	return resp, resp.ReadFrom(body[4:])
}

// classicMember is a hand-driven member of a classic consumer group.
type classicMember struct {
	conn  *rawConn
	group string
	id    string
	gen   int32
}

const (
	ghostSession   = time.Second
	ghostRebalance = 10 * time.Second
)

func joinRequest(group, memberID string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(2)
	req.Group = group
	req.MemberID = memberID
	req.SessionTimeoutMillis = int32(ghostSession / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(ghostRebalance / time.Millisecond)
	req.ProtocolType = "consumer"
	meta := kmsg.ConsumerMemberMetadata{Topics: []string{"t"}}
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: meta.AppendTo(nil)}}
	return req
}

// join joins (or rejoins) and syncs; as the leader it gives partition i of
// topic t to the i-th member of the join response.
func (m *classicMember) join() error {
	kresp, err := m.conn.roundTrip(joinRequest(m.group, m.id))
	if err != nil {
		return err
	}
	jr := kresp.(*kmsg.JoinGroupResponse)
	if err := kerr.ErrorForCode(jr.ErrorCode); err != nil {
		return fmt.Errorf("join: %w", err)
	}
	m.id, m.gen = jr.MemberID, jr.Generation
	sync := kmsg.NewPtrSyncGroupRequest()
	sync.SetVersion(1)
	sync.Group, sync.Generation, sync.MemberID = m.group, m.gen, m.id
	for i, jm := range jr.Members {
		a := kmsg.ConsumerMemberAssignment{Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: []int32{int32(i)}}}}
		sync.GroupAssignment = append(sync.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: jm.MemberID, MemberAssignment: a.AppendTo(nil)})
	}
	kresp, err = m.conn.roundTrip(sync)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(kresp.(*kmsg.SyncGroupResponse).ErrorCode); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

// heartbeat sends one heartbeat; on RebalanceInProgress it rejoins, like a
// real client does.
func (m *classicMember) heartbeat() error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.SetVersion(1)
	req.Group, req.Generation, req.MemberID = m.group, m.gen, m.id
	kresp, err := m.conn.roundTrip(req)
	if err != nil {
		return err
	}
	switch err := kerr.ErrorForCode(kresp.(*kmsg.HeartbeatResponse).ErrorCode); {
	case err == nil:
		return nil
	case errors.Is(err, kerr.RebalanceInProgress):
		return m.join()
	default:
		return fmt.Errorf("heartbeat: %w", err)
	}
}

// TestCrashedJoinerIsEvicted reproduces what stranded partitions in the
// SIGKILL failover: a new member's process dies while its first JoinGroup
// waits for the rebalance; the rebalance then completes with it (its
// JoinGroup is still pending), and the surviving leader assigns it
// partitions. kfake could not deliver the JoinGroup response and, randomly,
// never started the member's session timer, so the member never expired and
// its partitions were never consumed again. The broker must evict it within
// its session timeout and let the survivor take everything.
func TestCrashedJoinerIsEvicted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := broker.Start(ctx, broker.Config{GroupMinSessionTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	addr := b.Addrs()[0]

	// One run per group: the session timer was skipped at random (one
	// chance in two), so several groups make the test catch a regression
	// almost surely.
	const groups = 8
	var wg sync.WaitGroup
	errs := make(chan error, groups)
	for i := range groups {
		group := fmt.Sprintf("ghost-%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := crashedJoiner(ctx, b, addr, group); err != nil {
				errs <- fmt.Errorf("%s: %w", group, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func crashedJoiner(ctx context.Context, b *broker.Broker, addr, group string) error {
	conn, err := dialRaw(addr)
	if err != nil {
		return err
	}
	defer conn.c.Close()
	survivor := &classicMember{conn: conn, group: group}
	if err := survivor.join(); err != nil {
		return err
	}

	// The newcomer's first JoinGroup parks until the survivor rejoins;
	// its process dies meanwhile.
	doomed, err := dialRaw(addr)
	if err != nil {
		return err
	}
	if err := doomed.send(joinRequest(group, "")); err != nil {
		return err
	}
	if _, err := b.Cluster().WaitGroupInfo(ctx, group, func(gi *kfake.GroupInfo) bool {
		return gi != nil && len(gi.Members) == 2
	}); err != nil {
		return err
	}
	_ = doomed.c.Close()
	time.Sleep(200 * time.Millisecond) // let the broker see the connection close

	// The survivor notices the rebalance and rejoins: the generation forms
	// with the dead member, which the survivor (leader) assigns a partition.
	if err := survivor.heartbeat(); err != nil {
		return err
	}
	if gi := b.Cluster().GroupInfo(group); len(gi.Members) != 2 {
		return fmt.Errorf("generation %d formed with %d members, want the dead one too", gi.Epoch, len(gi.Members))
	}
	formed := survivor.gen

	// The survivor keeps heartbeating (and rejoining); the dead member must
	// be evicted within its session timeout, after which the survivor owns
	// every partition in a later generation.
	deadline := time.Now().Add(ghostSession + 4*time.Second)
	for {
		if err := survivor.heartbeat(); err != nil {
			return err
		}
		gi := b.Cluster().GroupInfo(group)
		if gi.State == "Stable" && len(gi.Members) == 1 && gi.Members[0].MemberID == survivor.id && survivor.gen > formed {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v after the crash: %s generation %d, %d members (survivor in generation %d)",
				ghostSession+4*time.Second, gi.State, gi.Epoch, len(gi.Members), survivor.gen)
		}
		time.Sleep(ghostSession / 5)
	}
}
