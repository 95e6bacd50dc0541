// Package vnpost places result-delivery orders with VNPost and polls their
// tracking (spec §6): a client-credentials bearer token renewed on 401,
// POST /api/order/post (409 answers the order already placed) and the
// GET /api/order/tracking feed, paged by event id.
package vnpost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// Paths of the API (the contract; the base URL is configuration).
const (
	tokenPath    = "/token"
	createPath   = "/api/order/post"
	trackingPath = "/api/order/tracking"
)

// MaxPageSize is the largest tracking pageSize VNPost accepts.
const MaxPageSize = 500

// ErrInvalidOrder: VNPost (400) or the connector refused the order as
// invalid. Permanent: the same order will be refused again.
var ErrInvalidOrder = errors.New("invalid order")

// Config configures a Client. BaseURL, ClientID and ClientSecret are required.
type Config struct {
	BaseURL      string
	ClientID     string // customer key (client_id)
	ClientSecret string
	CustomerCode string           // customerCode in orders
	HTTPClient   *http.Client     // default: a plain http.Client
	Timeout      time.Duration    // per request, body included (default 30s)
	Logger       *slog.Logger     // optional
	Now          func() time.Time // clock for token expiry (default time.Now)
}

// Client talks to VNPost for one customer account. It is safe for
// concurrent use.
type Client struct {
	cfg  Config
	http httpx.Transport
	log  *slog.Logger
	now  func() time.Time
	auth *httpx.Bearer
}

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if err := httpx.CheckBaseURL("vnpost", cfg.BaseURL); err != nil {
		return nil, err
	}
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("vnpost: ClientID and ClientSecret are required")
	}
	c := &Client{
		cfg:  cfg,
		http: httpx.NewTransport(cfg.HTTPClient, cfg.Timeout, 0),
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
		Name: "vnpost", Logger: c.log, Now: c.now,
	}
	return c, nil
}

// Order is one delivery of a dossier's result. Text is sent NFC; phone
// numbers without the spaces and dots some sources write.
type Order struct {
	OrderNumber string // the hub's own, unique per delivery
	CODAmount   int64  // VND to collect from the receiver, 0 for none

	SenderName, SenderTel, SenderAddress, SenderProvince, SenderDistrict, SenderEmail, SenderDesc string

	ReceiverName, ReceiverTel, ReceiverAddress, ReceiverProvince, ReceiverDistrict, ReceiverCommune, ReceiverEmail string

	Description string
}

// OrderResult is VNPost's answer to an order.
type OrderResult struct {
	ItemCode    string // EB…VN
	OrderNumber string
	Status      int
	TotalFee    int64
	// Existing: VNPost answered 409, the order already existed; the fields
	// are the existing order's.
	Existing bool
}

// orderBody is the create-order JSON. Every field is sent, empty or not:
// receiverDistrict may be empty since 2025.
type orderBody struct {
	CustomerCode     string `json:"customerCode"`
	OrderNumber      string `json:"orderNumber"`
	CODAmount        int64  `json:"codAmount"`
	SenderName       string `json:"senderName"`
	SenderTel        string `json:"senderTel"`
	SenderAddress    string `json:"senderAddress"`
	SenderProvince   string `json:"senderProvince"`
	SenderDistrict   string `json:"senderDistrict"`
	SenderEmail      string `json:"senderEmail"`
	SenderDesc       string `json:"senderDesc"`
	ReceiverName     string `json:"receiverName"`
	ReceiverTel      string `json:"receiverTel"`
	ReceiverAddress  string `json:"receiverAddress"`
	ReceiverProvince string `json:"receiverProvince"`
	ReceiverDistrict string `json:"receiverDistrict"`
	ReceiverCommune  string `json:"receiverCommune"`
	ReceiverEmail    string `json:"receiverEmail"`
	Description      string `json:"description"`
}

func nfc(s string) string { return norm.NFC.String(strings.TrimSpace(s)) }

// phone drops separators; the contract's pattern has none.
func phone(s string) string {
	return strings.NewReplacer(" ", "", ".", "", "-", "").Replace(strings.TrimSpace(s))
}

func (c *Client) body(o Order) orderBody {
	return orderBody{
		CustomerCode: c.cfg.CustomerCode, OrderNumber: strings.TrimSpace(o.OrderNumber), CODAmount: o.CODAmount,
		SenderName: nfc(o.SenderName), SenderTel: phone(o.SenderTel), SenderAddress: nfc(o.SenderAddress),
		SenderProvince: nfc(o.SenderProvince), SenderDistrict: nfc(o.SenderDistrict),
		SenderEmail: strings.TrimSpace(o.SenderEmail), SenderDesc: nfc(o.SenderDesc),
		ReceiverName: nfc(o.ReceiverName), ReceiverTel: phone(o.ReceiverTel), ReceiverAddress: nfc(o.ReceiverAddress),
		ReceiverProvince: nfc(o.ReceiverProvince), ReceiverDistrict: nfc(o.ReceiverDistrict),
		ReceiverCommune: nfc(o.ReceiverCommune), ReceiverEmail: strings.TrimSpace(o.ReceiverEmail),
		Description: nfc(o.Description),
	}
}

// CreateOrder places o. A 201 is a new order; a 409 means VNPost already
// holds o.OrderNumber and is answered with the existing order, Existing set
// (not an error, so a create retried after a lost answer is safe). A 400 is
// a permanent *httpx.Error wrapping ErrInvalidOrder that names the invalid
// field. A 401 logs in again once and retries. 5xx, 429 and transport
// failures are transient (RetryAfter from the header).
func (c *Client) CreateOrder(ctx context.Context, o Order) (OrderResult, error) {
	b := c.body(o)
	op := "vnpost: create order " + b.OrderNumber
	switch {
	case b.OrderNumber == "":
		return OrderResult{}, &httpx.Error{Op: "vnpost: create order", Message: "field orderNumber is required", Err: ErrInvalidOrder}
	case o.CODAmount < 0:
		return OrderResult{}, &httpx.Error{Op: op, Message: "field codAmount must not be negative", Err: ErrInvalidOrder}
	}
	payload, err := json.Marshal(b)
	if err != nil {
		return OrderResult{}, &httpx.Error{Op: op, Err: err}
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := c.auth.Do(ctx, op, http.MethodPost, createPath, payload, hdr)
	if err != nil {
		return OrderResult{}, err
	}
	switch {
	case resp.Success(), resp.Status == http.StatusConflict:
		res, err := parseOrderAnswer(resp.Body, b.OrderNumber)
		if err != nil {
			return OrderResult{}, httpx.MalformedError(op, err)
		}
		res.Existing = resp.Status == http.StatusConflict
		return res, nil
	case resp.Status == http.StatusBadRequest:
		return OrderResult{}, &httpx.Error{Op: op, Status: resp.Status,
			Message: invalidMessage(resp.Body, b), Err: ErrInvalidOrder}
	default:
		return OrderResult{}, httpx.StatusError(op, resp)
	}
}

// parseOrderAnswer reads a 201/409 body; numbers are read leniently.
func parseOrderAnswer(body []byte, orderNumber string) (OrderResult, error) {
	var a struct {
		ItemCode    json.RawMessage `json:"itemCode"`
		OrderNumber json.RawMessage `json:"orderNumber"`
		Status      json.RawMessage `json:"status"`
		TotalFee    json.RawMessage `json:"totalFee"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return OrderResult{}, httpx.JSONError(err)
	}
	res := OrderResult{ItemCode: httpx.JSONString(a.ItemCode), OrderNumber: httpx.JSONString(a.OrderNumber)}
	if res.ItemCode == "" {
		return OrderResult{}, errors.New("no itemCode")
	}
	switch res.OrderNumber {
	case "":
		res.OrderNumber = orderNumber
	case orderNumber:
	default:
		return OrderResult{}, errors.New("the answer is about another orderNumber")
	}
	if n, ok := httpx.JSONInt(a.Status); ok {
		res.Status = int(n)
	}
	if n, ok := httpx.JSONInt(a.TotalFee); ok {
		res.TotalFee = n
	}
	return res, nil
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\[\]]{0,63}$`)

// requestFields are the create-order keys, longest first, for finding a
// field named only in a message.
var requestFields = func() []string {
	f := []string{"customerCode", "orderNumber", "codAmount",
		"senderName", "senderTel", "senderAddress", "senderProvince", "senderDistrict", "senderEmail", "senderDesc",
		"receiverName", "receiverTel", "receiverAddress", "receiverProvince", "receiverDistrict", "receiverCommune", "receiverEmail",
		"description"}
	sort.SliceStable(f, func(i, j int) bool { return len(f[i]) > len(f[j]) })
	return f
}()

// invalidMessage says which field VNPost refused: its "field" key, or a
// request key its message mentions. The message itself is kept only when it
// repeats none of the order's personal data.
func invalidMessage(body []byte, b orderBody) string {
	var a struct {
		Message json.RawMessage `json:"message"`
		Field   json.RawMessage `json:"field"`
	}
	_ = json.Unmarshal(body, &a) // an unreadable body still is a 400
	msg, field := httpx.JSONString(a.Message), httpx.JSONString(a.Field)
	if !identifier.MatchString(field) {
		field = ""
	}
	if field == "" {
		for _, f := range requestFields {
			if strings.Contains(msg, f) {
				field = f
				break
			}
		}
	}
	out := "invalid field " + field
	if field == "" {
		out = "invalid order (no field named)"
	}
	if msg != "" && !revealsPersonal(msg, b) {
		out += ": " + httpx.Clip(msg, 200)
	}
	return out
}

// revealsPersonal reports whether msg repeats a name, address, e-mail,
// description or phone number of the order.
func revealsPersonal(msg string, b orderBody) bool {
	m := strings.ToLower(nfc(msg))
	for _, v := range []string{b.SenderName, b.SenderAddress, b.SenderEmail, b.SenderDesc,
		b.ReceiverName, b.ReceiverAddress, b.ReceiverEmail, b.Description} {
		if utf8.RuneCountInString(v) >= 4 && strings.Contains(m, strings.ToLower(v)) {
			return true
		}
	}
	digits := onlyDigits(msg)
	for _, tel := range []string{b.SenderTel, b.ReceiverTel} {
		// The last eight digits survive every way of writing the number.
		if d := onlyDigits(tel); len(d) >= 8 && strings.Contains(digits, d[len(d)-8:]) {
			return true
		}
	}
	return false
}

func onlyDigits(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// TrackingEvent is one event of the tracking feed.
type TrackingEvent struct {
	ID            int64
	OrderNumber   string
	ItemCode      string
	StatusCode    int
	StatusMessage string    // as VNPost sent it, NFC
	Time          time.Time // zero when unreadable
}

// Tracking returns the account's tracking events with id > lastID, ascending,
// at most pageSize (1..500; out of range means 500), and the lastId to ask
// from next. next never goes below lastID, nor below an event returned, so
// polling from next repeats and skips nothing; a page shorter than pageSize
// means the feed is drained for now. Events whose id or status code cannot
// be read are logged and dropped.
func (c *Client) Tracking(ctx context.Context, lastID int64, pageSize int) (events []TrackingEvent, next int64, err error) {
	if lastID < 0 {
		lastID = 0
	}
	if pageSize < 1 || pageSize > MaxPageSize {
		pageSize = MaxPageSize
	}
	op := fmt.Sprintf("vnpost: tracking after %d", lastID)
	q := url.Values{}
	q.Set("lastId", strconv.FormatInt(lastID, 10))
	q.Set("pageSize", strconv.Itoa(pageSize))
	resp, err := c.auth.Do(ctx, op, http.MethodGet, trackingPath+"?"+q.Encode(), nil, nil)
	if err != nil {
		return nil, lastID, err
	}
	if !resp.Success() {
		return nil, lastID, httpx.StatusError(op, resp)
	}
	var a struct {
		// HAL omits _embedded when there is nothing to embed.
		Embedded struct {
			RhDoc []map[string]json.RawMessage `json:"rhDoc"`
		} `json:"_embedded"`
		LastID json.RawMessage `json:"lastId"`
	}
	if err := json.Unmarshal(resp.Body, &a); err != nil {
		return nil, lastID, httpx.MalformedError(op, httpx.JSONError(err))
	}
	next = lastID
	if n, ok := httpx.JSONInt(a.LastID); ok && n > next {
		next = n
	}
	seen := map[int64]bool{}
	events = make([]TrackingEvent, 0, len(a.Embedded.RhDoc))
	for i, d := range a.Embedded.RhDoc {
		id, okID := httpx.JSONInt(d["id"])
		code, okCode := httpx.JSONInt(d["statusCode"])
		ev := TrackingEvent{ID: id, OrderNumber: httpx.JSONString(d["orderNumber"]), ItemCode: httpx.JSONString(d["itemCode"]),
			StatusCode: int(code), StatusMessage: nfc(httpx.JSONString(d["statusMessage"]))}
		if !okID || !okCode {
			c.log.Warn("vnpost: tracking event with unreadable id or statusCode dropped",
				"index", i, "id", httpx.JSONString(d["id"]), "orderNumber", ev.OrderNumber)
			continue
		}
		if id <= lastID || seen[id] { // already delivered by an earlier page
			continue
		}
		seen[id] = true
		if t, ok := schemas.ParseTime(httpx.JSONString(d["time"])); ok {
			ev.Time = t.In(schemas.Vietnam)
		} else {
			c.log.Warn("vnpost: tracking event with unreadable time", "id", id, "orderNumber", ev.OrderNumber)
		}
		events = append(events, ev)
		next = max(next, id)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].ID < events[j].ID })
	return events, next, nil
}
