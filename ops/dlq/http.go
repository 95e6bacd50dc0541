package dlq

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/lienthong/lienthong/ops/export"
	"github.com/lienthong/lienthong/store"
)

// Detail is one entry as Show's HTTP answer gives it: the listed fields and
// the payload, as text when it is UTF-8 and base64 otherwise.
type Detail struct {
	Item
	Payload         string `json:"payload"`
	PayloadEncoding string `json:"payload_encoding"` // "text" or "base64"
}

// DetailOf is e with its payload encoded for JSON.
func DetailOf(e store.QuarantineEntry) Detail {
	d := Detail{Item: ItemOf(e), Payload: string(e.Payload), PayloadEncoding: "text"}
	if !utf8.Valid(e.Payload) {
		d.Payload, d.PayloadEncoding = base64.StdEncoding.EncodeToString(e.Payload), "base64"
	}
	return d
}

// Handler is the quarantine's JSON API, to mount on the hub's HTTP server
// at /api/dlq and /api/dlq/:
//
//	GET  /api/dlq?source=&reason=&field=&dossier=&state=&since=&until=&limit=&offset=&sort=&format=
//	                              {"items": [Item…], "total": n}, without
//	                              payloads; CSV with format=csv or
//	                              Accept: text/csv
//	GET  /api/dlq/{id}            Detail, with the payload
//	POST /api/dlq/{id}/replay     {"id": 12, "state": "replayed"}
//	POST /api/dlq/replay?filters  replays every open entry the filters select
//	                              (every open entry without filters):
//	                              {"replayed": n}
//	POST /api/dlq/{id}/discard    body {"reason": "…"}: {"id": 12, "state": "discarded"}
//
// since and until are RFC 3339 times or durations ago (24h); state is open
// (the default), replayed, discarded or all; reason matches a part of the
// reason, ignoring case; sort orders the list (store.QuarantineSortKeys,
// "-" first for descending: -at), by ID by default; total counts every
// entry the filters select, of which items is the page limit and offset
// cut. An unknown query parameter is refused rather than
// ignored, so that a misspelt filter never widens a bulk replay. Errors are
// {"error": "…"} with 400 (bad request), 404 (no such entry), 409 (entry
// not open, or not replayable) or 500; a bulk replay that stops on an
// error also says how many it had replayed.
//
// Handler does not authenticate: the hub serves it behind its API tokens.
// visible limits what a request may see and act on to some sources' entries
// (a provincial operator's own); nil, or a visible answering all, admits
// every entry. An entry of another source is answered 404, as if it did not
// exist, so that its existence is not revealed either.
//
// The list answers CSV (ops/export: UTF-8 with a BOM) when format=csv or
// the Accept header prefers text/csv: the columns CSVHeader names, never
// the payload; limit is then up to export.MaxRows, and every match up to
// that when none is given.
func (s *Service) Handler(visible Visible) http.Handler {
	return s.HandlerWith(visible, nil)
}

// HandlerWith is Handler whose CSV list names each entry's province:
// province(source), a province code; nil leaves the column empty.
func (s *Service) HandlerWith(visible Visible, province func(source string) string) http.Handler {
	if visible == nil {
		visible = func(*http.Request) ([]string, bool) { return nil, true }
	}
	if province == nil {
		province = func(string) string { return "" }
	}
	h := &handler{s: s, visible: visible, province: province}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/dlq", h.list)
	mux.HandleFunc("GET /api/dlq/{id}", h.show)
	mux.HandleFunc("POST /api/dlq/{id}/replay", h.replay)
	mux.HandleFunc("POST /api/dlq/replay", h.replayAll)
	mux.HandleFunc("POST /api/dlq/{id}/discard", h.discard)
	return mux
}

// Visible says whose entries a request may see and act on: every source's
// (all), or only those of sources.
type Visible func(r *http.Request) (sources []string, all bool)

type handler struct {
	s        *Service
	visible  Visible
	province func(source string) string
}

// CSVHeader is the columns of the list's CSV: an Item's but the payload's
// size, with the source's province.
var CSVHeader = []string{"id", "source", "province", "dossier_id", "version", "field", "reason", "format", "state", "at"}

// filter reads the request's filter, limited to the sources it may see.
func (h *handler) filter(r *http.Request) (Filter, error) {
	return h.filterOf(r, r.URL.Query())
}

func (h *handler) filterOf(r *http.Request, q url.Values) (Filter, error) {
	f, err := filterFromQuery(q, time.Now())
	if err != nil {
		return f, err
	}
	if sources, all := h.visible(r); !all {
		f.Sources = append([]string{}, sources...) // not nil: none visible sees none
	}
	return f, nil
}

// entry reads the entry the path names, if the request may see it.
func (h *handler) entry(r *http.Request) (store.QuarantineEntry, error) {
	id, err := pathID(r)
	if err != nil {
		return store.QuarantineEntry{}, err
	}
	e, err := h.s.Show(r.Context(), id)
	if err != nil {
		return e, err
	}
	if sources, all := h.visible(r); !all && !slices.Contains(sources, e.Source) {
		return store.QuarantineEntry{}, fmt.Errorf("quarantine entry %d: %w", id, store.ErrNotFound)
	}
	return e, nil
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	asCSV, err := export.WantsCSV(r)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	// format and sort are the list's own: a bulk replay takes neither.
	q := r.URL.Query()
	sort := q["sort"]
	q.Del("format")
	q.Del("sort")
	f, err := h.filterOf(r, q)
	if err == nil && len(sort) > 1 {
		err = fmt.Errorf("query parameter \"sort\" given %d times: %w", len(sort), store.ErrInvalid)
	}
	if err != nil {
		writeError(w, err, nil)
		return
	}
	if len(sort) == 1 {
		f.Sort = sort[0]
	}
	if !asCSV {
		items, err := h.s.List(r.Context(), f)
		var total int
		if err == nil {
			total, err = h.s.Count(r.Context(), f)
		}
		if err != nil {
			writeError(w, err, nil)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": total})
		return
	}
	items, err := h.s.Export(r.Context(), f, export.MaxRows)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, []string{export.Int(it.ID), it.Source, h.province(it.Source), it.DossierID,
			export.Int(it.Version), it.Field, it.Reason, it.Format, it.State, export.Time(it.At)})
	}
	_ = export.WriteCSV(w, "quarantine.csv", CSVHeader, rows)
}

func (h *handler) show(w http.ResponseWriter, r *http.Request) {
	e, err := h.entry(r)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	// The payload holds personal data; it is answered because the operator
	// asked for this one record.
	writeJSON(w, http.StatusOK, DetailOf(e))
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request) {
	e, err := h.entry(r)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	if err := h.s.Replay(r.Context(), e.ID); err != nil {
		writeError(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": e.ID, "state": store.QuarantineReplayed})
}

func (h *handler) replayAll(w http.ResponseWriter, r *http.Request) {
	f, err := h.filter(r)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	n, err := h.s.ReplayAll(r.Context(), f)
	if err != nil {
		writeError(w, err, map[string]any{"replayed": n})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"replayed": n})
}

func (h *handler) discard(w http.ResponseWriter, r *http.Request) {
	e, err := h.entry(r)
	if err != nil {
		writeError(w, err, nil)
		return
	}
	var body struct {
		Reason string `json:"reason"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, fmt.Errorf("body: want {\"reason\": \"…\"}: %v: %w", err, store.ErrInvalid), nil)
		return
	}
	if err := h.s.Discard(r.Context(), e.ID, body.Reason); err != nil {
		writeError(w, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": e.ID, "state": store.QuarantineDiscarded})
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("entry id %q: %w", r.PathValue("id"), store.ErrInvalid)
	}
	return id, nil
}

// filterFromQuery reads a Filter from the query parameters.
func filterFromQuery(q url.Values, now time.Time) (Filter, error) {
	var f Filter
	for k, vs := range q {
		if len(vs) != 1 {
			return f, fmt.Errorf("query parameter %q given %d times: %w", k, len(vs), store.ErrInvalid)
		}
		v := vs[0]
		var err error
		switch k {
		case "source":
			f.Source = v
		case "dossier":
			f.DossierID = v
		case "field":
			f.Field = v
		case "reason":
			f.Reason = v
		case "state":
			f.State = v
		case "since":
			f.Since, err = ParseTime(v, now)
		case "until":
			f.Until, err = ParseTime(v, now)
		case "limit", "offset":
			var n int
			n, err = strconv.Atoi(v)
			if err == nil && n < 0 {
				err = errors.New("negative")
			}
			if err != nil {
				err = fmt.Errorf("%s %q: %v: %w", k, v, err, store.ErrInvalid)
			}
			if k == "limit" {
				f.Limit = n
			} else {
				f.Offset = n
			}
		default:
			err = fmt.Errorf("unknown query parameter %q (want source, dossier, field, reason, state, since, until, limit, offset, and sort and format on a list): %w", k, store.ErrInvalid)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// statusOf maps an operation's error to its HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrNotOpen), errors.Is(err, ErrUnreplayable):
		return http.StatusConflict
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error, extra map[string]any) {
	body := map[string]any{"error": err.Error()}
	for k, v := range extra {
		body[k] = v
	}
	writeJSON(w, statusOf(err), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store") // answers may hold personal data
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
