package hub

import (
	"net/http"
	"time"

	"github.com/lienthong/lienthong/breaker"
	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/connectors/restjson"
	"github.com/lienthong/lienthong/connectors/soap"
	"github.com/lienthong/lienthong/connectors/xmlfeed"
	"github.com/lienthong/lienthong/flows/writeback"
	"github.com/lienthong/lienthong/ingest"
	"github.com/lienthong/lienthong/schemas"
)

// source is one configured provincial portal, ready to poll.
type source struct {
	name      string
	pull      ingest.PullFunc
	unit      national.Unit
	interval  time.Duration
	writeback writeback.Portal
}

func unitOf(p PortalCommon) national.Unit {
	u := national.Unit{DstCode: p.DstCode, MaDonVi: p.MaDonVi}
	if u.MaDonVi == "" {
		u.MaDonVi = u.DstCode
	}
	return u
}

// client is an HTTP client to one external endpoint, through its circuit
// breaker.
func (h *Hub) client(endpoint string, timeout time.Duration) *http.Client {
	return h.checkedClient(endpoint, timeout, nil)
}

// checkedClient is client for a system that also reports failures inside
// 2xx answers, which check recognises.
func (h *Hub) checkedClient(endpoint string, timeout time.Duration, check breaker.AnswerCheck) *http.Client {
	return &http.Client{Timeout: durationOr(timeout, 30*time.Second), Transport: h.breakers.CheckedTransport(endpoint, http.DefaultTransport, check)}
}

// sources builds a connector for every configured portal.
func (h *Hub) sources() ([]source, error) {
	var out []source
	if c := h.cfg.SonLa; c != nil {
		cl, err := restjson.New(restjson.Config{
			BaseURL: c.BaseURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			PageSize: c.PageSize, HTTPClient: h.client(schemas.SourceSonLa, c.Timeout), Logger: h.log,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, source{schemas.SourceSonLa, cl.Pull, unitOf(c.PortalCommon), c.PollInterval, cl})
	}
	if c := h.cfg.ThaiNguyen; c != nil {
		cl, err := soap.New(soap.Config{
			BaseURL: c.BaseURL, Username: c.Username, Password: c.Password,
			PageSize: c.PageSize, HTTPClient: h.client(schemas.SourceThaiNguyen, c.Timeout), Logger: h.log,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, source{schemas.SourceThaiNguyen, cl.Pull, unitOf(c.PortalCommon), c.PollInterval, cl})
	}
	if c := h.cfg.HaTinh; c != nil {
		cl, err := xmlfeed.New(xmlfeed.Config{
			BaseURL: c.BaseURL, APIKey: c.APIKey,
			PageSize: c.PageSize, HTTPClient: h.client(schemas.SourceHaTinh, c.Timeout), Logger: h.log,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, source{schemas.SourceHaTinh, cl.Pull, unitOf(c.PortalCommon), c.PollInterval, cl})
	}
	return out, nil
}
