package soap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/internal/xmltree"
	"github.com/lienthong/lienthong/schemas"
)

// Writeback calls CapNhatSuKienHoSo. The portal accepts a MaThamChieu once
// and acknowledges repeats, so a retry after an unknown outcome is safe.
// ev.Data has no place in this operation and is not sent.
func (c *Client) Writeback(ctx context.Context, ev Event) error {
	op := c.cfg.Source + ": writeback " + ev.DossierID
	if ev.DossierID == "" || ev.Reference == "" || ev.Kind == "" {
		return &httpx.Error{Op: c.cfg.Source + ": writeback", Err: fmt.Errorf("%w: dossier, kind and reference are required", httpx.ErrRejected)}
	}
	el := func(name, v string) string { return "<mc:" + name + ">" + xmltree.EscapeText(v) + "</mc:" + name + ">" }
	inner := "<mc:CapNhatSuKienHoSo>" +
		el("MaHoSo", ev.DossierID) +
		el("LoaiSuKien", ev.Kind) +
		el("MaThamChieu", ev.Reference) +
		el("ThoiDiem", ev.At.In(schemas.Vietnam).Format(timeLayout)) +
		el("NoiDung", ev.Content) +
		"</mc:CapNhatSuKienHoSo>"
	body, _, err := c.call(ctx, op, "CapNhatSuKienHoSo", inner)
	if err != nil {
		return err
	}
	k := body.Find("KetQua", c.spaces...)
	if !k.Present() {
		return httpx.MalformedError(op, errors.New("no KetQua in the answer"))
	}
	switch v := strings.TrimSpace(k.Text()); strings.ToLower(v) {
	case "1", "true", "ok":
		return nil
	default:
		return &httpx.Error{Op: op, Code: "KetQua=" + httpx.Clip(v, 20), Err: httpx.ErrRejected}
	}
}
