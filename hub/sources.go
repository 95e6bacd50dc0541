package hub

import (
	"fmt"
	"net/http"
	"time"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/connectors/national"
	"github.com/lienthong/lienthong/connectors/restjson"
	"github.com/lienthong/lienthong/connectors/soap"
	"github.com/lienthong/lienthong/connectors/xmlfeed"
	"github.com/lienthong/lienthong/flows/writeback"
	"github.com/lienthong/lienthong/router/ingest"
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

func unitOf(c SourceConfig) national.Unit {
	u := national.Unit{DstCode: c.DstCode, MaDonVi: c.MaDonVi}
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

// sources builds a connector for every configured portal, by its kind.
func (h *Hub) sources() ([]source, error) {
	var out []source
	for _, c := range h.cfg.Sources {
		var pull ingest.PullFunc
		var wb writeback.Portal
		hc := h.client(c.Name, c.Timeout)
		switch c.Kind {
		case schemas.KindRESTJSON:
			cl, err := restjson.New(restjson.Config{Source: c.Name, BaseURL: c.BaseURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
				PageSize: c.PageSize, HTTPClient: hc, Logger: h.log})
			if err != nil {
				return nil, err
			}
			pull, wb = cl.Pull, cl
		case schemas.KindSOAP:
			cl, err := soap.New(soap.Config{Source: c.Name, BaseURL: c.BaseURL, Username: c.Username, Password: c.Password,
				Namespace: c.Namespace, PageSize: c.PageSize, HTTPClient: hc, Logger: h.log})
			if err != nil {
				return nil, err
			}
			pull, wb = cl.Pull, cl
		case schemas.KindXMLFeed:
			cl, err := xmlfeed.New(xmlfeed.Config{Source: c.Name, BaseURL: c.BaseURL, APIKey: c.APIKey, Charset: c.Charset,
				PageSize: c.PageSize, HTTPClient: hc, Logger: h.log})
			if err != nil {
				return nil, err
			}
			pull, wb = cl.Pull, cl
		default:
			return nil, fmt.Errorf("source %s: unknown kind %q", c.Name, c.Kind)
		}
		out = append(out, source{c.Name, pull, unitOf(c), c.PollInterval, wb})
	}
	return out, nil
}
