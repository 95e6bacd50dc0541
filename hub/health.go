package hub

import (
	"net/http"
	"sync"
)

// life is what /healthz and /readyz report: whether the router is running,
// and why the hub stops once it does.
type life struct {
	mu      sync.Mutex
	started bool   // the router has been running
	ended   bool   // the router has stopped (it never runs again)
	stop    string // why the hub stops (or stopped); "" while it runs
	failed  bool   // it stops because something stopped under it
}

func (l *life) routerStarted() {
	l.mu.Lock()
	l.started = true
	l.mu.Unlock()
}

func (l *life) routerEnded() {
	l.mu.Lock()
	l.ended = true
	l.mu.Unlock()
}

// stopping records why the hub stops; the first reason is kept.
func (l *life) stopping(why string, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop == "" {
		l.stop, l.failed = why, failed
	}
}

// alive is "" when the hub works (its router runs and nothing failed
// under it), or why it does not.
func (l *life) alive() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.failed:
		return "failed: " + l.stop
	case l.ended && l.stop != "":
		return "router stopped: " + l.stop
	case !l.started || l.ended:
		return "router not running"
	}
	return ""
}

// serving is "" when the hub takes work: alive and not stopping.
func (l *life) serving() string {
	if why := l.alive(); why != "" {
		return why
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != "" {
		return "stopping: " + l.stop
	}
	return ""
}

// healthz answers 200 while the router runs and nothing has failed under
// it, 503 with the reason otherwise: a hub whose router stopped is dead
// even if its process still answers.
func (h *Hub) healthz(w http.ResponseWriter, r *http.Request) {
	if why := h.life.alive(); why != "" {
		http.Error(w, "not alive: "+why, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// readyz answers 200 while the hub runs and is not stopping, and the store
// and a Kafka broker answer; 503 with the reason otherwise.
func (h *Hub) readyz(w http.ResponseWriter, r *http.Request) {
	why := h.life.serving()
	if why == "" {
		if err := h.ready(r.Context()); err != nil {
			why = err.Error()
		}
	}
	if why != "" {
		http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}
