package breaker_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/connectors/breaker"
)

func TestWaitMiddleware(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 5 * time.Second
		set := breaker.New(breaker.Settings{Failures: 1, Timeout: timeout}, slog.New(slog.DiscardHandler))
		var calls atomic.Int32
		produced := message.NewMessage("out", nil)
		failed := errors.New("handler failed")
		next := func(*message.Message) ([]*message.Message, error) {
			calls.Add(1)
			return []*message.Message{produced}, failed
		}
		handle := set.WaitMiddleware("sms", "national")(next)
		down := func() {
			_ = set.Do(t.Context(), "sms", func(context.Context) error { return errors.New("down") }, nil)
			if !set.Open("sms") {
				t.Fatal("sms breaker not open")
			}
		}

		// Closed: straight through, with what the handler returns.
		out, err := handle(message.NewMessage("1", nil))
		if calls.Load() != 1 || len(out) != 1 || out[0] != produced || err != failed {
			t.Fatalf("closed: %d calls, %v, %v", calls.Load(), out, err)
		}

		// Open: the message waits until a probe may go.
		down()
		start := time.Now()
		done := make(chan error, 1)
		go func() { _, err := handle(message.NewMessage("2", nil)); done <- err }()
		synctest.Wait()
		if calls.Load() != 1 {
			t.Fatal("handled while the breaker is open")
		}
		if err := <-done; err != failed || calls.Load() != 2 {
			t.Fatalf("after Timeout: %d calls, %v", calls.Load(), err)
		}
		if el := time.Since(start); el < timeout || el > timeout+time.Second {
			t.Fatalf("waited %v, want Timeout (%v) and a poll", el, timeout)
		}

		// The message's context ends while it waits: its error, no call.
		down()
		ctx, cancel := context.WithCancel(t.Context())
		msg := message.NewMessage("3", nil)
		msg.SetContext(ctx)
		go func() { _, err := handle(msg); done <- err }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || calls.Load() != 2 {
			t.Fatalf("cancelled: %d calls, %v", calls.Load(), err)
		}

		// A nil Set lets every message through.
		if _, err := (*breaker.Set)(nil).WaitMiddleware("sms")(next)(message.NewMessage("4", nil)); err != failed || calls.Load() != 3 {
			t.Fatalf("nil Set: %d calls, %v", calls.Load(), err)
		}
	})
}
