package ingest

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
)

// flakyCursors fails the first reads, then serves a cursor store in memory.
type flakyCursors struct {
	mu       sync.Mutex
	failures int
	stored   map[string][]byte
}

func (f *flakyCursors) GetCursor(ctx context.Context, name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return nil, errors.New("store unavailable")
	}
	return f.stored[name], nil
}

func (f *flakyCursors) PutCursor(ctx context.Context, name string, v []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stored[name] = v
	return nil
}

// recordingPublisher keeps what was published, or fails while failing is set.
type recordingPublisher struct {
	mu      sync.Mutex
	failing bool
	got     []*message.Message
}

func (r *recordingPublisher) Publish(topic string, msgs ...*message.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failing {
		return errors.New("broker unavailable")
	}
	r.got = append(r.got, msgs...)
	return nil
}

func (r *recordingPublisher) Close() error { return nil }

// The cursor must not move past records the broker did not take, and a
// store that fails at start must not stop the poller.
func TestPollerCursorMovesOnlyAfterPublish(t *testing.T) {
	cursors := &flakyCursors{failures: 2, stored: map[string][]byte{}}
	pub := &recordingPublisher{failing: true}
	var pulls []string
	var mu sync.Mutex
	pull := func(ctx context.Context, cursor []byte) (Page, error) {
		mu.Lock()
		pulls = append(pulls, string(cursor))
		mu.Unlock()
		if string(cursor) == "after-1" {
			return httpx.Page{Cursor: cursor}, nil
		}
		return httpx.Page{
			Records: []schemas.RawRecord{{Source: "sonla", ID: "D-1", Version: 1, Op: schemas.OpUpsert, Format: schemas.FormatJSON, Payload: []byte(`{}`)}},
			Cursor:  []byte("after-1"),
		}, nil
	}
	p := &Poller{Source: "sonla", Pull: pull, Topic: "raw.sonla", Publisher: pub, Cursors: cursors,
		Interval: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	time.Sleep(200 * time.Millisecond)
	if c, _ := cursors.GetCursor(ctx, CursorName("sonla")); c != nil {
		t.Fatalf("cursor moved to %q while the broker refused every publish", c)
	}
	pub.mu.Lock()
	pub.failing = false
	pub.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, _ := cursors.GetCursor(ctx, CursorName("sonla"))
		if string(c) == "after-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cursor did not move after the broker came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.got) != 1 || pub.got[0].Metadata.Get(kafka.PartitionKeyMetadata) != "D-1" {
		t.Fatalf("published %d messages; want the one record keyed by its dossier", len(pub.got))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range pulls[:len(pulls)-1] {
		if c == "after-1" {
			break
		}
		if c != "" {
			t.Fatalf("pulled from %q before the publish succeeded", c)
		}
	}
}

// Changed hears of each page with records once, when its cursor is stored:
// never of an empty pull, nor of a page whose publish failed (pulled again).
func TestPollerChanged(t *testing.T) {
	rec := func(id string) schemas.RawRecord {
		return schemas.RawRecord{Source: "sonla", ID: id, Version: 1, Op: schemas.OpUpsert, Format: schemas.FormatJSON, Payload: []byte(`{}`)}
	}
	pages := map[string]Page{
		"":   {Records: []schemas.RawRecord{rec("D-1"), rec("D-2")}, Cursor: []byte("c1")},
		"c1": {Cursor: []byte("c1")}, // nothing new
		"c2": {Records: []schemas.RawRecord{rec("D-3")}, Cursor: []byte("c3")},
	}
	pub := &recordingPublisher{}
	var told []int
	p := &Poller{Source: "sonla", Topic: "raw.sonla", Publisher: pub,
		Cursors: &flakyCursors{stored: map[string][]byte{}}, Logger: slog.New(slog.DiscardHandler),
		Pull:    func(_ context.Context, cursor []byte) (Page, error) { return pages[string(cursor)], nil },
		Changed: func(n int) { told = append(told, n) }}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	for _, c := range []string{"", "c1", "c1"} {
		if _, _, err := p.once(ctx, []byte(c), log); err != nil {
			t.Fatal(err)
		}
	}
	pub.failing = true
	if _, _, err := p.once(ctx, []byte("c2"), log); err == nil {
		t.Fatal("publish failure lost")
	}
	pub.failing = false
	if _, _, err := p.once(ctx, []byte("c2"), log); err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 1}; !slices.Equal(told, want) {
		t.Errorf("Changed told %v, want %v", told, want)
	}
}
