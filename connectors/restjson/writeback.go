package restjson

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// Writeback posts an event about a dossier (POST /api/v1/hoso/{maHoSo}/su-kien).
// ev.Reference is both maThamChieu and the Idempotency-Key, so a retry after
// an unknown outcome has one effect. 404 is ErrNotFound (permanent).
func (c *Client) Writeback(ctx context.Context, ev Event) error {
	op := c.cfg.Source + ": writeback " + ev.DossierID
	if ev.DossierID == "" || ev.Reference == "" || ev.Kind == "" {
		return &httpx.Error{Op: c.cfg.Source + ": writeback", Err: fmt.Errorf("%w: dossier, kind and reference are required", httpx.ErrRejected)}
	}
	body, err := json.Marshal(map[string]any{
		"loai":        ev.Kind,
		"maThamChieu": ev.Reference,
		"thoiDiem":    ev.At.In(schemas.Vietnam).Format(time.RFC3339),
		"noiDung":     ev.Content,
		"duLieu":      dataOrEmpty(ev.Data),
	})
	if err != nil {
		return &httpx.Error{Op: op, Err: err}
	}
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Idempotency-Key", ev.Reference)
	path := listPath + "/" + url.PathEscape(ev.DossierID) + "/su-kien"
	resp, err := c.auth.Do(ctx, op, http.MethodPost, path, body, hdr)
	if err != nil {
		return err
	}
	if !resp.Success() {
		return httpx.StatusError(op, resp)
	}
	var ans struct {
		KetQua json.RawMessage `json:"ketQua"`
	}
	if len(strings.TrimSpace(string(resp.Body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return httpx.MalformedError(op, httpx.JSONError(err))
	}
	if k := httpx.JSONString(ans.KetQua); len(ans.KetQua) > 0 && !strings.EqualFold(k, "OK") {
		return &httpx.Error{Op: op, Status: resp.Status, Code: httpx.Clip(k, 40), Err: httpx.ErrRejected}
	}
	return nil
}

func dataOrEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
