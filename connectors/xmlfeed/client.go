// Package xmlfeed pulls dossier changes from a provincial portal's XML change
// feed (as at Hà Tĩnh, spec §3) and writes events back to it.
package xmlfeed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// Page and Event are shared by the three connectors.
type (
	Page  = httpx.Page
	Event = httpx.Event
)

// Contract constants.
const (
	feedPath  = "/dvc/api/dongbo"
	eventPath = "/dvc/api/sukien"
	// MaxPageSize is the largest gioiHan the feed answers.
	MaxPageSize = 1000
)

// Config configures a Client. BaseURL and APIKey are required.
type Config struct {
	// Source is the configured source's name (required): on every record,
	// error and log line, so two portals of this kind are told apart.
	Source string
	// Charset is what an answer that declares no charset (neither in its
	// Content-Type nor in its prolog) is read as; default UTF-8.
	Charset      string
	BaseURL      string
	APIKey       string // X-API-Key
	PageSize     int    // gioiHan, 1..1000 (default 500)
	HTTPClient   *http.Client
	Timeout      time.Duration // per request, body included (default 30s)
	MaxBodyBytes int64         // default 64 MiB
	Logger       *slog.Logger
	Now          func() time.Time // clock for Pulled (default time.Now)
}

// Client reads one portal's change feed. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http httpx.Transport
	log  *slog.Logger
	now  func() time.Time
}

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Source == "" {
		return nil, errors.New("xmlfeed: Source (the source's name) is required")
	}
	if err := httpx.CheckBaseURL(cfg.Source, cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		return nil, errors.New(cfg.Source + ": APIKey is required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	cfg.PageSize = min(cfg.PageSize, MaxPageSize)
	c := &Client{cfg: cfg, http: httpx.NewTransport(cfg.HTTPClient, cfg.Timeout, cfg.MaxBodyBytes), log: cfg.Logger, now: cfg.Now}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// Name is the source name.
func (c *Client) Name() string { return c.cfg.Source }

// Pull reads the feed after the cursor's SEQ (nil = from the start). The
// feed is an append-only log, so the cursor is simply the last SEQ handed
// off; entries at or below it are dropped if the portal repeats them.
// Version is the entry's SEQ; XOA entries are OpDelete.
func (c *Client) Pull(ctx context.Context, cursor []byte) (Page, error) {
	seq, err := decodeCursor(cursor)
	if err != nil {
		return Page{}, &httpx.Error{Op: c.cfg.Source + ": pull", Err: err}
	}
	op := fmt.Sprintf("%s: feed after SEQ %d", c.cfg.Source, seq)
	q := url.Values{}
	q.Set("tuSeq", strconv.FormatInt(seq, 10))
	q.Set("gioiHan", strconv.Itoa(c.cfg.PageSize))
	resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, httpx.JoinURL(c.cfg.BaseURL, feedPath)+"?"+q.Encode(), nil)
		if err == nil {
			req.Header.Set("X-API-Key", c.cfg.APIKey)
			req.Header.Set("Accept", "application/xml, text/xml")
		}
		return req, err
	})
	if err != nil {
		return Page{}, err
	}
	if !resp.Success() {
		return Page{}, httpx.StatusError(op, resp) // 403: ErrAuth, permanent
	}
	f, err := parseFeed(resp.Body, resp.Header.Get("Content-Type"), c.cfg.Charset)
	if err != nil {
		return Page{}, httpx.MalformedError(op, err)
	}
	if f.lenient {
		c.log.Warn("feed is not well-formed XML; entries split one by one", "source", c.cfg.Source, "after", seq)
	}

	pulled := c.now()
	next := seq
	unreadable := false
	done := map[int64]bool{}
	var recs []schemas.RawRecord
	for i, e := range f.entries {
		if e.seqOK {
			if e.seq <= seq || done[e.seq] {
				continue // already handed off (the portal repeated it)
			}
			done[e.seq] = true
			next = max(next, e.seq)
		} else {
			unreadable = true
		}
		r := schemas.RawRecord{
			Source:  c.cfg.Source,
			ID:      e.id,
			Version: e.seq,
			Op:      e.op,
			Format:  schemas.FormatXML,
			Payload: e.payload,
			Pulled:  pulled,
		}
		if !e.seqOK || e.id == "" || !e.wellFormed {
			c.log.Warn("malformed entry passed on", "source", c.cfg.Source, "after", seq, "index", i, "id", e.id, "seq", e.seq)
		}
		recs = append(recs, r)
	}
	more := f.more
	// SEQ_CUOI is where the portal says the next call starts. Trust it past
	// what we could read ourselves only where we could not read: an empty
	// answer that says more follows (a gap in the log), or entries whose
	// SEQ is unreadable (they occupy those numbers).
	if f.lastOK && f.last > next && ((len(f.entries) == 0 && more) || unreadable) {
		next = f.last
	}
	if more && next == seq {
		more = false // no progress possible; do not spin
	}
	return Page{Records: recs, Cursor: encodeCursor(next), More: more}, nil
}
