package vnpost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/lienthong/lienthong/sim/simctl"
)

// defaultInterval is the auto-advance tick when interval_ms is not given.
const defaultInterval = 500 * time.Millisecond

// maxInterval bounds interval_ms (one hour).
const maxInterval = time.Hour

// ErrUnknownOrder is returned for an order number the simulator does not hold.
var ErrUnknownOrder = errors.New("unknown order")

// registerSim adds VNPost's /_sim/ controls.
func (s *Server) registerSim(mux *http.ServeMux) {
	mux.HandleFunc("GET /_sim/orders", func(w http.ResponseWriter, r *http.Request) {
		simctl.WriteJSON(w, http.StatusOK, s.Orders())
	})
	mux.HandleFunc("GET /_sim/orders/{orderNumber...}", func(w http.ResponseWriter, r *http.Request) {
		o, ok := s.Order(r.PathValue("orderNumber"))
		if !ok {
			simctl.WriteError(w, http.StatusNotFound, ErrUnknownOrder)
			return
		}
		simctl.WriteJSON(w, http.StatusOK, o)
	})
	mux.HandleFunc("POST /_sim/advance/{orderNumber...}", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			StatusCode    *int   `json:"statusCode"`
			StatusMessage string `json:"statusMessage"` // optional; default the table's text
		}
		body, err := simctl.ReadBody(r)
		if err == nil {
			err = decodeStrict(body, &req)
		}
		if err == nil && req.StatusCode == nil {
			err = errors.New("statusCode is required")
		}
		if err != nil {
			simctl.WriteError(w, http.StatusBadRequest, err)
			return
		}
		ev, err := s.Advance(r.PathValue("orderNumber"), *req.StatusCode, req.StatusMessage)
		switch {
		case errors.Is(err, ErrUnknownOrder):
			simctl.WriteError(w, http.StatusNotFound, err)
		case err != nil:
			simctl.WriteError(w, http.StatusBadRequest, err)
		default:
			simctl.WriteJSON(w, http.StatusOK, ev)
		}
	})
	mux.HandleFunc("GET /_sim/auto", func(w http.ResponseWriter, r *http.Request) {
		simctl.WriteJSON(w, http.StatusOK, s.autoView())
	})
	mux.HandleFunc("POST /_sim/auto", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Auto       *bool `json:"auto"`
			IntervalMS *int  `json:"interval_ms"`
		}
		body, err := simctl.ReadBody(r)
		if err == nil {
			err = decodeStrict(body, &req)
		}
		if err == nil && req.Auto == nil {
			err = errors.New("auto is required")
		}
		var interval time.Duration
		if err == nil && req.IntervalMS != nil {
			interval = time.Duration(*req.IntervalMS) * time.Millisecond
			if *req.IntervalMS < 1 || interval > maxInterval {
				err = errors.New("interval_ms must be within 1..3600000")
			}
		}
		if err != nil {
			simctl.WriteError(w, http.StatusBadRequest, err)
			return
		}
		s.SetAuto(*req.Auto, interval)
		simctl.WriteJSON(w, http.StatusOK, s.autoView())
	})
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// Orders returns every order in creation order, with its request and
// tracking history.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.list))
	for _, o := range s.list {
		out = append(out, o.clone())
	}
	return out
}

// Order returns one order.
func (s *Server) Order(orderNumber string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderNumber]
	if !ok {
		return Order{}, false
	}
	return o.clone(), true
}

// Advance appends one tracking event with code to the order (any code of
// the table, in any order: tests use it to feed failures and odd
// sequences). msg "" takes the table's text.
func (s *Server) Advance(orderNumber string, code int, msg string) (Event, error) {
	if StatusText(code) == "" {
		return Event{}, fmt.Errorf("statusCode must be within 0..%d", maxStatus)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[orderNumber]
	if !ok {
		return Event{}, fmt.Errorf("%w %q", ErrUnknownOrder, orderNumber)
	}
	return s.appendLocked(o, code, msg), nil
}

type autoView struct {
	Auto       bool `json:"auto"`
	IntervalMS int  `json:"interval_ms"`
}

func (s *Server) autoView() autoView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return autoView{Auto: s.auto, IntervalMS: int(s.interval / time.Millisecond)}
}

// SetAuto turns auto-advance on (every interval, each order takes one step
// of 1 → 6 → 10 → 12 → 14 → 21 with COD) or off. interval 0 keeps the
// current interval (500 ms at first).
func (s *Server) SetAuto(on bool, interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if interval > 0 {
		s.interval = interval
	}
	s.auto = on
	s.restartAutoLocked()
}

// restartAutoLocked stops any running timer and starts one if auto is on
// and the server is open; s.mu is held.
func (s *Server) restartAutoLocked() {
	s.stopAutoLocked()
	if !s.auto || s.closed {
		return
	}
	s.stop = make(chan struct{})
	s.wg.Add(1)
	go s.runAuto(s.stop, s.interval)
}

// stopAutoLocked signals the running timer to stop without waiting for it
// (it may be waiting for s.mu, which is held).
func (s *Server) stopAutoLocked() {
	if s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
}

func (s *Server) runAuto(stop chan struct{}, interval time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		s.mu.Lock()
		select {
		case <-stop: // stopped while this tick waited for the lock
			s.mu.Unlock()
			return
		default:
		}
		s.stepLocked()
		s.mu.Unlock()
	}
}

// stepLocked moves every order one step along the auto lifecycle and
// returns how many moved; s.mu is held.
func (s *Server) stepLocked() int {
	n := 0
	for _, o := range s.list {
		if next, ok := autoNext(o.Status, o.CODAmount); ok {
			s.appendLocked(o, next, "")
			n++
		}
	}
	return n
}
