package kafka

import (
	"context"
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

func newWindow(maxMessages, maxBytes int) *window {
	return &window{maxMessages: maxMessages, maxBytes: maxBytes, room: make(chan struct{}, 1), keys: map[string][]*windowEntry{}}
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
// of its key, if one is queued. commit is called with the offset up to
// which every message of the partition is now acked, when that moved.
func (w *window) done(km kafkago.Message, commit func(offset int64)) (next kafkago.Message, ok bool) {
	w.mu.Lock()
	k := string(km.Key)
	q := w.keys[k]
	if len(q) > 0 && q[0].km.Offset == km.Offset {
		q[0].acked = true
		q[0] = nil
		q = q[1:]
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
	return next, ok
}
