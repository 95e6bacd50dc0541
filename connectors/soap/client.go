// Package soap pulls dossier changes from a provincial portal's SOAP 1.1
// service (as at Thái Nguyên, spec §2) and writes events back to it.
package soap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/internal/xmltree"
	"github.com/lienthong/lienthong/schemas"
)

// Page and Event are shared by the three connectors.
type (
	Page  = httpx.Page
	Event = httpx.Event
)

// Contract constants.
const (
	DefaultNamespace = "http://motcua.thainguyen.gov.vn/"
	servicePath      = "/MotCuaService.asmx"
	// MaxPageSize is the largest SoBanGhi the service answers.
	MaxPageSize = 500
	// timeLayout is dd/MM/yyyy HH:mm:ss, local time.
	timeLayout = "02/01/2006 15:04:05"
)

// Config configures a Client. BaseURL, Username and Password are required.
type Config struct {
	// Source is the configured source's name (required): on every record,
	// error and log line, so two portals of this kind are told apart.
	Source       string
	BaseURL      string
	Username     string // TenDangNhap
	Password     string // MatKhau
	PageSize     int    // SoBanGhi, 1..500 (default 500: fewer page walks inside busy seconds)
	HTTPClient   *http.Client
	Timeout      time.Duration // per call, body included (default 30s)
	MaxBodyBytes int64         // default 64 MiB
	// Start is where an empty cursor begins (TuThoiDiem); default the Unix epoch.
	Start time.Time
	// Namespace is the service's target namespace (default DefaultNamespace).
	Namespace string
	Logger    *slog.Logger
	Now       func() time.Time // clock for Pulled (default time.Now)
}

// Client talks to one SOAP portal. It is safe for concurrent use.
type Client struct {
	cfg    Config
	http   httpx.Transport
	log    *slog.Logger
	now    func() time.Time
	spaces []string // namespace URIs accepted for the service's elements
	keyset *httpx.Keyset
}

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Source == "" {
		return nil, errors.New("soap: Source (the source's name) is required")
	}
	if err := httpx.CheckBaseURL(cfg.Source, cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.Username == "" {
		return nil, errors.New(cfg.Source + ": Username is required")
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = MaxPageSize
	}
	cfg.PageSize = min(cfg.PageSize, MaxPageSize)
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Unix(0, 0).In(schemas.Vietnam)
	}
	c := &Client{
		cfg:  cfg,
		http: httpx.NewTransport(cfg.HTTPClient, cfg.Timeout, cfg.MaxBodyBytes),
		log:  cfg.Logger,
		now:  cfg.Now,
		// The service's namespace, with or without its trailing slash, and
		// unqualified elements (as .NET emits with elementFormDefault
		// unqualified). Never the prefix.
		spaces: []string{cfg.Namespace, toggleSlash(cfg.Namespace), ""},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.keyset = &httpx.Keyset{Start: cfg.Start, PageSize: cfg.PageSize, Fetch: c.list}
	return c, nil
}

func toggleSlash(ns string) string {
	if strings.HasSuffix(ns, "/") {
		return strings.TrimSuffix(ns, "/")
	}
	return ns + "/"
}

// Name is the source name.
func (c *Client) Name() string { return c.cfg.Source }

// Pull fetches the changes after cursor (nil = from the beginning), with the
// same keyset cursor as the JSON REST kind (see httpx.Keyset): TuThoiDiem is inclusive
// and the listing is ordered by (ThoiDiemCapNhat, MaHoSo).
func (c *Client) Pull(ctx context.Context, cursor []byte) (Page, error) {
	p, err := c.keyset.Pull(ctx, cursor)
	if err != nil && errors.Is(err, httpx.ErrCursor) {
		return Page{}, &httpx.Error{Op: c.cfg.Source + ": pull", Err: err}
	}
	return p, err
}

// list is the keyset fetch: LayDanhSachHoSo for one page.
func (c *Client) list(ctx context.Context, since time.Time, page, size int) (httpx.KeysetPage, error) {
	op := fmt.Sprintf("%s: list page %d", c.cfg.Source, page)
	var b strings.Builder
	b.WriteString("<mc:LayDanhSachHoSo>")
	b.WriteString("<mc:TuThoiDiem>" + since.In(schemas.Vietnam).Format(timeLayout) + "</mc:TuThoiDiem>")
	b.WriteString("<mc:TrangSo>" + strconv.Itoa(page) + "</mc:TrangSo>")
	b.WriteString("<mc:SoBanGhi>" + strconv.Itoa(size) + "</mc:SoBanGhi>")
	b.WriteString("</mc:LayDanhSachHoSo>")
	body, hdr, err := c.call(ctx, op, "LayDanhSachHoSo", b.String())
	if err != nil {
		return httpx.KeysetPage{}, err
	}
	resp := body.Child("LayDanhSachHoSoResponse", c.spaces...)
	if !resp.Present() {
		resp = body.Find("LayDanhSachHoSoResponse", c.spaces...)
	}
	if !resp.Present() {
		return httpx.KeysetPage{}, httpx.MalformedError(op, errors.New("no LayDanhSachHoSoResponse in the SOAP body"))
	}
	pulled := c.now()
	var recs []schemas.RawRecord
	for i, h := range resp.FindAll("HoSo", c.spaces...) {
		r := c.record(h, pulled)
		if r.ID == "" || r.Version == 0 || r.Updated == nil {
			c.log.Warn("dossier with unreadable identity passed on", "source", c.cfg.Source, "page", page, "index", i, "id", r.ID)
		}
		recs = append(recs, r)
	}
	return httpx.KeysetPage{Records: recs, Full: len(recs) >= size, ServerTime: httpx.HeaderDate(hdr)}, nil
}

// record turns one <HoSo> into a RawRecord; it never fails. The payload is
// the element on its own, its namespace declared, UTF-8.
func (c *Client) record(h xmltree.Element, pulled time.Time) schemas.RawRecord {
	rec := schemas.RawRecord{
		Source:  c.cfg.Source,
		ID:      strings.TrimSpace(h.Child("MaHoSo", c.spaces...).Text()),
		Op:      schemas.OpUpsert,
		Format:  schemas.FormatXML,
		Payload: h.Standalone(),
		Pulled:  pulled,
	}
	rec.Version, _ = schemas.ParseInt(h.Child("PhienBan", c.spaces...).Text())
	if t, ok := schemas.ParseTime(h.Child("ThoiDiemCapNhat", c.spaces...).Text(), timeLayout); ok {
		rec.Updated = &t
	}
	return rec
}
