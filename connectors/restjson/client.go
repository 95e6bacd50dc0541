// Package restjson pulls dossier changes from a provincial portal's JSON REST
// API (as at Sơn La, spec §1) and writes events back to it.
package restjson

import (
	"context"
	"encoding/json"
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

// Paths of the portal (the contract; the base URL is configuration).
const (
	tokenPath = "/oauth/token"
	listPath  = "/api/v1/hoso"
)

// MaxPageSize is the largest soLuong the portal accepts.
const MaxPageSize = 500

// Config configures a Client. BaseURL, ClientID and ClientSecret are required.
type Config struct {
	// Source is the configured source's name (required): on every record,
	// error and log line, so two portals of this kind are told apart.
	Source       string
	BaseURL      string
	ClientID     string
	ClientSecret string
	PageSize     int           // soLuong, 1..500 (default 500: fewer page walks inside busy seconds)
	HTTPClient   *http.Client  // default: a plain http.Client
	Timeout      time.Duration // per request, body included (default 30s)
	MaxBodyBytes int64         // largest answer accepted (default 64 MiB)
	// Start is where an empty cursor begins (tuNgay); default the Unix epoch.
	Start  time.Time
	Logger *slog.Logger     // optional
	Now    func() time.Time // clock for Pulled and token expiry (default time.Now)
}

// Client talks to one JSON REST portal. It is safe for concurrent use.
type Client struct {
	cfg    Config
	http   httpx.Transport
	log    *slog.Logger
	now    func() time.Time
	keyset *httpx.Keyset
	auth   *httpx.Bearer
}

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Source == "" {
		return nil, errors.New("restjson: Source (the source's name) is required")
	}
	if err := httpx.CheckBaseURL(cfg.Source, cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New(cfg.Source + ": ClientID and ClientSecret are required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = MaxPageSize
	}
	cfg.PageSize = min(cfg.PageSize, MaxPageSize)
	if cfg.Start.IsZero() {
		cfg.Start = time.Unix(0, 0).In(schemas.Vietnam)
	}
	c := &Client{
		cfg:  cfg,
		http: httpx.NewTransport(cfg.HTTPClient, cfg.Timeout, cfg.MaxBodyBytes),
		log:  cfg.Logger,
		now:  cfg.Now,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.auth = &httpx.Bearer{
		Transport: c.http, BaseURL: cfg.BaseURL, TokenPath: tokenPath,
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Name: cfg.Source, Logger: c.log, Now: c.now,
	}
	c.keyset = &httpx.Keyset{Start: cfg.Start, PageSize: cfg.PageSize, Fetch: c.list}
	return c, nil
}

// Name is the source name.
func (c *Client) Name() string { return c.cfg.Source }

// Pull fetches the changes after cursor (nil = from the beginning); see
// httpx.Keyset for the cursor scheme. It never returns a cursor that skips a
// change it has not returned.
func (c *Client) Pull(ctx context.Context, cursor []byte) (Page, error) {
	p, err := c.keyset.Pull(ctx, cursor)
	if err != nil && errors.Is(err, httpx.ErrCursor) {
		return Page{}, &httpx.Error{Op: c.cfg.Source + ": pull", Err: err}
	}
	return p, err
}

// listing is the envelope of GET /api/v1/hoso. Numbers are read leniently.
type listing struct {
	TongSo  json.RawMessage   `json:"tongSo"`
	Trang   json.RawMessage   `json:"trang"`
	SoLuong json.RawMessage   `json:"soLuong"`
	DuLieu  []json.RawMessage `json:"duLieu"` // each dossier stands alone
}

// list is the keyset fetch: one page of dossiers updated at or after since.
func (c *Client) list(ctx context.Context, since time.Time, page, size int) (httpx.KeysetPage, error) {
	op := fmt.Sprintf("%s: list page %d", c.cfg.Source, page)
	q := url.Values{}
	q.Set("tuNgay", since.Format(time.RFC3339Nano))
	q.Set("trang", strconv.Itoa(page))
	q.Set("soLuong", strconv.Itoa(size))
	resp, err := c.auth.Do(ctx, op, http.MethodGet, listPath+"?"+q.Encode(), nil, nil)
	if err != nil {
		return httpx.KeysetPage{}, err
	}
	if !resp.Success() {
		return httpx.KeysetPage{}, httpx.StatusError(op, resp)
	}
	var l listing
	if err := json.Unmarshal(resp.Body, &l); err != nil {
		return httpx.KeysetPage{}, httpx.MalformedError(op, httpx.JSONError(err))
	}
	pulled := c.now()
	recs := make([]schemas.RawRecord, 0, len(l.DuLieu))
	for i, raw := range l.DuLieu {
		r := parseDossier(c.cfg.Source, raw, pulled)
		if r.ID == "" || r.Version == 0 || r.Updated == nil {
			c.log.Warn("dossier with unreadable identity passed on", "source", c.cfg.Source, "page", page, "index", i, "id", r.ID)
		}
		recs = append(recs, r)
	}
	// The portal echoes the page size it applied; if it capped ours, a page
	// of its size is full.
	eff := size
	if n, ok := httpx.JSONInt(l.SoLuong); ok && n > 0 && int(n) < size {
		eff = int(n)
	}
	return httpx.KeysetPage{Records: recs, Full: len(recs) >= eff, ServerTime: httpx.HeaderDate(resp.Header)}, nil
}
