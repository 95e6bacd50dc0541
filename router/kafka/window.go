package kafka

import (
	"context"
	"strconv"
	"sync"

	kafkago "github.com/segmentio/kafka-go"
)

// window holds the messages of one partition that were fetched and are not
// yet acked, bounded in count and bytes. Messages of one record key are
// queued behind each other, so a key's messages are handled one at a time
// and in offset order; different keys run together. Offsets are committed
// only up to the first message not acked, so a crash or a revoked
// partition redelivers every message not acked, and each key's messages
// again in order.
type window struct {
	maxMessages, maxBytes int
	budget                *budget // the subscription's, over all partitions
	// supersedeBy: the header with each message's version, by which a
	// queued message gives way to a later one (SubscriberConfig.SupersedeBy).
	supersedeBy string

	mu      sync.Mutex
	room    chan struct{}  // signalled when an ack frees room
	pending []*windowEntry // in offset order; acked ones leave from the front
	size    int
	keys    map[string][]*windowEntry // per key, the message in flight first
}

type windowEntry struct {
	km    kafkago.Message
	acked bool
}

func messageSize(km kafkago.Message) int { return len(km.Key) + len(km.Value) }

// newWindow returns a window whose messages also count against b, taken
// by the caller before add and given back here as each is acked.
func newWindow(maxMessages, maxBytes int, b *budget) *window {
	return &window{maxMessages: maxMessages, maxBytes: maxBytes, budget: b, room: make(chan struct{}, 1), keys: map[string][]*windowEntry{}}
}

// release gives back the budget of the messages never acked, once nothing
// is delivered from the window any more.
func (w *window) release() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.pending {
		if !e.acked {
			w.budget.give(messageSize(e.km))
		}
	}
	w.pending, w.keys = nil, map[string][]*windowEntry{}
}

// waitRoom blocks until the window can take another message; it returns
// false when ctx ended first. A single message larger than maxBytes still
// goes in once the window is empty.
func (w *window) waitRoom(ctx context.Context) bool {
	for {
		w.mu.Lock()
		full := len(w.pending) >= w.maxMessages || (len(w.pending) > 0 && w.size >= w.maxBytes)
		w.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-w.room:
		}
	}
}

// add puts km in the window. It returns true when km is the only message
// of its key: the caller starts delivering that key. Otherwise km waits
// behind the key's messages and done hands it on.
func (w *window) add(km kafkago.Message) (first bool) {
	e := &windowEntry{km: km}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, e)
	w.size += len(km.Key) + len(km.Value)
	k := string(km.Key)
	w.keys[k] = append(w.keys[k], e)
	return len(w.keys[k]) == 1
}

// done records that km was acked (or skipped) and returns the next message
// of its key, if one is queued. With supersedeBy, queued messages that the
// last one queued supersedes are acked unhandled first (skipped says how
// many).
// commit is called with the offset up to which every message of the
// partition is now acked, when that moved.
func (w *window) done(km kafkago.Message, commit func(offset int64)) (next kafkago.Message, skipped int, ok bool) {
	w.mu.Lock()
	k := string(km.Key)
	q := w.keys[k]
	if len(q) > 0 && q[0].km.Offset == km.Offset {
		q[0].acked = true
		w.budget.give(messageSize(km))
		q[0] = nil
		q = q[1:]
	}
	for len(q) > 1 && w.supersedes(q[len(q)-1].km, q[0].km) {
		q[0].acked = true
		w.budget.give(messageSize(q[0].km))
		q[0] = nil
		q = q[1:]
		skipped++
	}
	if len(q) == 0 {
		delete(w.keys, k)
	} else {
		w.keys[k] = q
		next, ok = q[0].km, true
	}
	last := int64(-1)
	i := 0
	for ; i < len(w.pending) && w.pending[i].acked; i++ {
		last = w.pending[i].km.Offset
		w.size -= len(w.pending[i].km.Key) + len(w.pending[i].km.Value)
		w.pending[i] = nil
	}
	w.pending = w.pending[i:]
	w.mu.Unlock()
	if last >= 0 {
		commit(last)
		select {
		case w.room <- struct{}{}:
		default:
		}
	}
	return next, skipped, ok
}

// budget bounds the messages (and bytes) handed out and not yet acked over
// all partitions of a subscription. Acks come from handlers, never from a
// message waiting for budget, so a full budget always drains.
type budget struct {
	maxMessages, maxBytes int

	mu       sync.Mutex
	messages int
	bytes    int
	room     chan struct{} // signalled when give frees room
}

func newBudget(maxMessages, maxBytes int) *budget {
	return &budget{maxMessages: maxMessages, maxBytes: maxBytes, room: make(chan struct{}, 1)}
}

// take waits until size fits (one message always fits an empty budget) and
// takes it; false when ctx ended first.
func (b *budget) take(ctx context.Context, size int) bool {
	for {
		b.mu.Lock()
		if b.messages == 0 || (b.messages < b.maxMessages && b.bytes+size <= b.maxBytes) {
			b.messages++
			b.bytes += size
			left := b.messages < b.maxMessages && b.bytes < b.maxBytes
			b.mu.Unlock()
			if left {
				b.wake() // pass the signal on to another waiter
			}
			return true
		}
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-b.room:
		}
	}
}

func (b *budget) give(size int) {
	b.mu.Lock()
	b.messages--
	b.bytes -= size
	b.mu.Unlock()
	// Several partitions may wait: wake one; it passes the signal on when
	// room is left.
	b.wake()
}

func (b *budget) wake() {
	select {
	case b.room <- struct{}{}:
	default:
	}
}

// supersedes reports whether newer, queued after older, makes older
// needless: both carry a version under supersedeBy and newer's is not
// lower. A message republished with an older version (a resync of what the
// key had) never replaces a newer one.
func (w *window) supersedes(newer, older kafkago.Message) bool {
	if w.supersedeBy == "" {
		return false
	}
	n, ok1 := headerInt(newer, w.supersedeBy)
	o, ok2 := headerInt(older, w.supersedeBy)
	return ok1 && ok2 && n >= o
}

func headerInt(km kafkago.Message, key string) (int64, bool) {
	for _, h := range km.Headers {
		if h.Key == key {
			n, err := strconv.ParseInt(string(h.Value), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
