package breaker_test

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/connectors/httpx"
)

// Wiring: each connector's http.Client goes through its endpoint's breaker,
// the SMTP send through Do, and a handler waits for the systems it needs
// before taking a message.
func Example() {
	set := breaker.New(breaker.Settings{Failures: 5, Timeout: 5 * time.Second}, slog.Default())

	// e.g. sonla.Config{HTTPClient: sonlaHTTP, ...}
	sonlaHTTP := &http.Client{Transport: set.Transport("sonla", nil)}
	_ = sonlaHTTP

	send := func(ctx context.Context) error { return nil } // e.g. emailClient.Send(ctx, m)
	ctx := context.Background()
	if err := set.Do(ctx, "smtp", send, httpx.IsTransient); err != nil && httpx.IsTransient(err) {
		// Leave the message for later (errors.Is(err, breaker.ErrOpen) when
		// the breaker refused it).
	}

	// In a handler's loop, before taking the next message:
	if err := set.Wait(ctx, "sonla", "national"); err != nil {
		return // shutting down
	}
}
