package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// sessionKeeper works around a kfake bug that strands partitions of classic
// consumer groups when a member's process dies while its first JoinGroup
// waits for a rebalance (see the package comment).
//
// kfake starts a member's session timer only once it has delivered a
// response to that member (JoinGroup, SyncGroup) or the member heartbeats or
// commits. A member that joins for the first time has no timer while its
// JoinGroup is parked; if its connection is closed by then, the rebalance
// still completes with it (its JoinGroup is pending), the leader assigns it
// partitions, and kfake's reply to the dead connection fails: depending on
// which case of a select wins, kfake then skips the timer. Once the leader
// has synced, nothing else removes such a member (kfake drops the
// "members still to sync" deadline when the leader syncs): the group stays
// stable with a member that never fetches, and its partitions are never
// consumed again. Kafka schedules every member's session expiry when a
// generation forms, whether or not the JoinGroup response reaches it.
//
// The keeper restores that rule from the outside: whenever a member shows up
// in a formed generation (CompletingRebalance or Stable), it sends one
// Heartbeat on the member's behalf, which makes kfake (re)start the member's
// session timer. A live member heartbeats itself anyway, so for it this only
// restarts a running timer once; a dead one now expires after its session
// timeout like any crashed member, and the group rebalances without it.
// Members first seen while a rebalance is pending are left alone until their
// generation forms: they may be waiting in JoinGroup, and kfake drops a
// member whose session expires while it waits there.
//
// The keeper talks to the broker like any client, over its plaintext
// listener; with TLS or SASL configured through Config.Opts it cannot, and
// does nothing.
type sessionKeeper struct {
	c       *kfake.Cluster
	cl      *kgo.Client
	cancel  context.CancelFunc
	done    chan struct{}
	members map[string]map[string]*keptMember // group → member ID
}

type keptMember struct {
	firstEpoch int32 // generation when first seen
	formed     bool  // seen in a generation that formed after it joined
	kept       bool  // its session timer is running
}

const (
	// keepInterval is how often the keeper looks at the groups: a dead
	// member expires at most this much later than its session timeout.
	keepInterval = 250 * time.Millisecond
	// keepMaxBackoff bounds the retry interval while the keeper cannot
	// reach the broker (TLS or SASL listener, broker closing).
	keepMaxBackoff = 5 * time.Second
)

func startSessionKeeper(c *kfake.Cluster, addrs []string) (*sessionKeeper, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addrs...),
		kgo.ClientID("lienthong-broker-session-keeper"),
		kgo.RequestRetries(0),
	)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	k := &sessionKeeper{
		c: c, cl: cl, cancel: cancel, done: make(chan struct{}),
		members: map[string]map[string]*keptMember{},
	}
	go k.run(ctx)
	return k, nil
}

// stop stops the keeper; it must run before the cluster is closed.
func (k *sessionKeeper) stop() {
	k.cancel()
	<-k.done
	k.cl.Close()
}

func (k *sessionKeeper) run(ctx context.Context) {
	defer close(k.done)
	wait := keepInterval
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := k.sweep(ctx); err != nil {
			wait = min(2*wait, keepMaxBackoff)
		} else {
			wait = keepInterval
		}
	}
}

// sweep looks at every classic group once.
func (k *sessionKeeper) sweep(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, k.cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, g := range resp.Groups {
		// KIP-848 ("consumer") and share groups have their own session
		// handling; an empty type is a classic group on an old version.
		if g.GroupType != "" && g.GroupType != "classic" {
			continue
		}
		listed[g.Group] = true
		k.sweepGroup(ctx, g.Group)
	}
	for g := range k.members {
		if !listed[g] {
			delete(k.members, g)
		}
	}
	return nil
}

func (k *sessionKeeper) sweepGroup(ctx context.Context, group string) {
	gi := k.groupInfo(ctx, group)
	if gi == nil {
		delete(k.members, group)
		return
	}
	formed := gi.State == "CompletingRebalance" || gi.State == "Stable"
	known := k.members[group]
	if known == nil {
		known = map[string]*keptMember{}
		k.members[group] = known
	}
	present := make(map[string]bool, len(gi.Members))
	for _, m := range gi.Members {
		present[m.MemberID] = true
		km := known[m.MemberID]
		if km == nil {
			km = &keptMember{firstEpoch: gi.Epoch}
			known[m.MemberID] = km
		}
		// A generation formed since the member first showed up (even
		// if another rebalance is pending again already).
		if formed || gi.Epoch > km.firstEpoch {
			km.formed = true
		}
		if km.formed && !km.kept {
			km.kept = k.keep(ctx, group, gi.Epoch, m)
		}
	}
	for id := range known {
		if !present[id] {
			delete(known, id)
		}
	}
}

// keep heartbeats on the member's behalf; it reports whether the member's
// session timer now runs (or there is nothing to do for it).
func (k *sessionKeeper) keep(ctx context.Context, group string, generation int32, m kfake.GroupMember) bool {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group = group
	req.Generation = generation
	req.MemberID = m.MemberID
	req.InstanceID = m.InstanceID
	resp, err := req.RequestWith(ctx, k.cl)
	if err != nil {
		return false
	}
	err = kerr.ErrorForCode(resp.ErrorCode)
	switch {
	case err == nil, errors.Is(err, kerr.RebalanceInProgress):
		return true // kfake restarted the member's session timer
	case errors.Is(err, kerr.UnknownMemberID):
		return true // gone meanwhile, or not a classic member
	default:
		return false // e.g. IllegalGeneration: retry on the next sweep
	}
}

// groupInfo is Cluster.GroupInfo, which blocks forever if the cluster was
// closed behind our back; the keeper then gives up with ctx.
func (k *sessionKeeper) groupInfo(ctx context.Context, group string) *kfake.GroupInfo {
	ch := make(chan *kfake.GroupInfo, 1)
	go func() { ch <- k.c.GroupInfo(group) }()
	select {
	case gi := <-ch:
		return gi
	case <-ctx.Done():
		return nil
	}
}
