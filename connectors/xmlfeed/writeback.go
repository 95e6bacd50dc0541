package xmlfeed

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/internal/xmltree"
	"github.com/lienthong/lienthong/schemas"
)

// Writeback posts <SUKIEN> to /dvc/api/sukien. A repeated MATHAMCHIEU is
// acknowledged without a second effect, so retries are safe. ev.Data has no
// place in this format and is not sent.
func (c *Client) Writeback(ctx context.Context, ev Event) error {
	op := c.cfg.Source + ": writeback " + ev.DossierID
	if ev.DossierID == "" || ev.Reference == "" || ev.Kind == "" {
		return &httpx.Error{Op: c.cfg.Source + ": writeback", Err: fmt.Errorf("%w: dossier, kind and reference are required", httpx.ErrRejected)}
	}
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?>` +
		`<SUKIEN MAHOSO="` + xmltree.EscapeAttr(ev.DossierID) +
		`" LOAI="` + xmltree.EscapeAttr(ev.Kind) +
		`" MATHAMCHIEU="` + xmltree.EscapeAttr(ev.Reference) +
		`" THOIDIEM="` + ev.At.In(schemas.Vietnam).Format("20060102150405") + `">` +
		xmltree.EscapeText(ev.Content) + `</SUKIEN>`)
	resp, err := c.http.Do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, httpx.JoinURL(c.cfg.BaseURL, eventPath), bytes.NewReader(body))
		if err == nil {
			req.Header.Set("X-API-Key", c.cfg.APIKey)
			req.Header.Set("Content-Type", "application/xml; charset=utf-8")
			req.Header.Set("Accept", "application/xml, text/xml")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	var k xmltree.Element
	if text, _, err := httpx.ToUTF8(resp.Body, resp.Header.Get("Content-Type")); err == nil {
		if root, err := xmltree.Parse(text); err == nil && root.Local() == "KETQUA" {
			k = root
		}
	}
	if !k.Present() {
		if !resp.Success() {
			return httpx.StatusError(op, resp)
		}
		return httpx.MalformedError(op, fmt.Errorf("no KETQUA in the answer"))
	}
	ma, _ := k.Attr("MA")
	if strings.TrimSpace(ma) == "0" && resp.Success() {
		return nil
	}
	e := httpx.StatusError(op, resp)
	if resp.Success() {
		e = &httpx.Error{Op: op, Status: resp.Status}
	}
	e.Code = "MA=" + httpx.Clip(ma, 20)
	e.Message = httpx.Clip(k.Text(), 200)
	if e.Err == nil {
		e.Err = httpx.ErrRejected
	}
	return e
}
