// Package simctl is the plumbing every simulator shares: the §8 fault
// injection and health controls, and the versioned dossier book behind the
// provincial portals' /_sim/ controls.
package simctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults is the fault-injection state set by POST /_sim/faults.
type Faults struct {
	LatencyMS     int     `json:"latency_ms"`
	JitterMS      int     `json:"jitter_ms"`
	ErrorRate     float64 `json:"error_rate"`
	TimeoutRate   float64 `json:"timeout_rate"`
	Down          bool    `json:"down"`
	MalformedRate float64 `json:"malformed_rate"`
	SessionTTLS   int     `json:"session_ttl_s"`
	RateLimitRPS  float64 `json:"rate_limit_rps"`
}

// faultPatch distinguishes omitted keys (nil: keep the value) from zero values.
type faultPatch struct {
	LatencyMS     *int     `json:"latency_ms"`
	JitterMS      *int     `json:"jitter_ms"`
	ErrorRate     *float64 `json:"error_rate"`
	TimeoutRate   *float64 `json:"timeout_rate"`
	Down          *bool    `json:"down"`
	MalformedRate *float64 `json:"malformed_rate"`
	SessionTTLS   *int     `json:"session_ttl_s"`
	RateLimitRPS  *float64 `json:"rate_limit_rps"`
}

// Options configures a Controller for one system.
type Options struct {
	// InternalError writes the system's own internal-error answer (HTTP 500
	// JSON, a soap:Server fault, {"error_code":"99"}, …). Required.
	InternalError func(w http.ResponseWriter, r *http.Request)
	// RateLimited writes the overload answer; nil writes HTTP 429 with a
	// Retry-After header and a plain-text body.
	RateLimited func(w http.ResponseWriter, r *http.Request, retryAfterS int)
	// SessionTTL is the initial session_ttl_s (the system's configured session
	// or token lifetime). Zero means 1800 s.
	SessionTTL time.Duration
	// Hold is how long timeout_rate holds a request; zero means 60 s.
	Hold time.Duration
}

// Controller owns a simulator's fault state and applies it to requests.
type Controller struct {
	opts Options

	mu     sync.Mutex
	faults Faults
	tokens float64 // rate-limit bucket
	last   time.Time

	closeOnce sync.Once
	closed    chan struct{}
}

// NewController returns a controller with no faults.
func NewController(o Options) *Controller {
	if o.InternalError == nil {
		panic("simctl: Options.InternalError is required")
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 1800 * time.Second
	}
	if o.Hold <= 0 {
		o.Hold = 60 * time.Second
	}
	return &Controller{
		opts:   o,
		faults: Faults{SessionTTLS: int(o.SessionTTL / time.Second)},
		closed: make(chan struct{}),
	}
}

// Faults returns the current fault state.
func (c *Controller) Faults() Faults {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.faults
}

// SetFaults replaces the whole fault state.
func (c *Controller) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.RateLimitRPS != c.faults.RateLimitRPS {
		c.tokens, c.last = 0, time.Time{} // restart the bucket full (see allow)
	}
	c.faults = f
	return nil
}

// Patch applies a JSON object of fault keys; omitted keys keep their value.
func (c *Controller) Patch(body []byte) (Faults, error) {
	var p faultPatch
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Faults{}, fmt.Errorf("faults: %w", err)
	}
	f := c.Faults()
	set := func(dst *int, src *int) {
		if src != nil {
			*dst = *src
		}
	}
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&f.LatencyMS, p.LatencyMS)
	set(&f.JitterMS, p.JitterMS)
	set(&f.SessionTTLS, p.SessionTTLS)
	setF(&f.ErrorRate, p.ErrorRate)
	setF(&f.TimeoutRate, p.TimeoutRate)
	setF(&f.MalformedRate, p.MalformedRate)
	setF(&f.RateLimitRPS, p.RateLimitRPS)
	if p.Down != nil {
		f.Down = *p.Down
	}
	return f, c.SetFaults(f)
}

func (f Faults) validate() error {
	for name, r := range map[string]float64{"error_rate": f.ErrorRate, "timeout_rate": f.TimeoutRate, "malformed_rate": f.MalformedRate} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return fmt.Errorf("faults: %s must be within [0,1]", name)
		}
	}
	if f.LatencyMS < 0 || f.JitterMS < 0 || f.SessionTTLS < 0 || f.RateLimitRPS < 0 || math.IsNaN(f.RateLimitRPS) {
		return errors.New("faults: latency_ms, jitter_ms, session_ttl_s and rate_limit_rps must not be negative")
	}
	return nil
}

// SessionTTL is the current session or token lifetime (session_ttl_s).
func (c *Controller) SessionTTL() time.Duration {
	return time.Duration(c.Faults().SessionTTLS) * time.Second
}

// MalformedRate is the current malformed_rate.
func (c *Controller) MalformedRate() float64 { return c.Faults().MalformedRate }

// Close releases every request held by timeout_rate; later ones are not held.
func (c *Controller) Close() { c.closeOnce.Do(func() { close(c.closed) }) }

// Register adds GET /_sim/health and GET/POST /_sim/faults to mux.
func (c *Controller) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, c.Faults())
	})
	mux.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		body, err := ReadBody(r)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		f, err := c.Patch(body)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		WriteJSON(w, http.StatusOK, f)
	})
}

// Wrap applies the faults to every request outside /_sim/, in the order a
// client would meet them: down, rate limit, latency, timeout, internal error.
func (c *Controller) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/_sim/") {
			next.ServeHTTP(w, r)
			return
		}
		f := c.Faults()
		if f.Down {
			http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		if ok, retry := c.allow(f.RateLimitRPS); !ok {
			if c.opts.RateLimited != nil {
				c.opts.RateLimited(w, r, retry)
			} else {
				w.Header().Set("Retry-After", strconv.Itoa(retry))
				http.Error(w, "429 Too Many Requests", http.StatusTooManyRequests)
			}
			return
		}
		if d := time.Duration(f.LatencyMS) * time.Millisecond; d > 0 || f.JitterMS > 0 {
			if f.JitterMS > 0 {
				d += time.Duration(rand.IntN(f.JitterMS+1)) * time.Millisecond
			}
			if !c.sleep(r, d) {
				return
			}
		}
		if f.TimeoutRate > 0 && rand.Float64() < f.TimeoutRate {
			if c.sleep(r, c.opts.Hold) {
				// Held the whole time: drop the connection without an answer, as
				// a hung upstream behind a proxy would.
				panic(http.ErrAbortHandler)
			}
			select {
			case <-c.closed:
				panic(http.ErrAbortHandler)
			default: // the client went away; nobody to answer
				return
			}
		}
		if f.ErrorRate > 0 && rand.Float64() < f.ErrorRate {
			c.opts.InternalError(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sleep waits d unless the client goes away or the controller closes; it
// reports whether the full time elapsed.
func (c *Controller) sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-c.closed:
		return false
	}
}

// allow takes a token from the rate-limit bucket (capacity max(1, rps)); when
// empty it reports the whole seconds until the next token.
func (c *Controller) allow(rps float64) (bool, int) {
	if rps <= 0 {
		return true, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	capacity := math.Max(1, rps)
	if c.last.IsZero() {
		c.tokens = capacity
	} else {
		c.tokens = math.Min(capacity, c.tokens+now.Sub(c.last).Seconds()*rps)
	}
	c.last = now
	if c.tokens >= 1 {
		c.tokens--
		return true, 0
	}
	return false, max(1, int(math.Ceil((1-c.tokens)/rps)))
}
