package fees

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Answer codes of the hub to an IPN. The spec names "00" (taken) and "99"
// (failed, send again); for notifications refused on their merits the hub
// answers with the platform's own codes of §5, "01" bad signature and "02"
// invalid field, so that the platform's retries and an operator reading
// either side can tell a refusal from a hub fault. A platform retries
// anything that is not "00" either way.
const (
	answerOK        = "00"
	answerSignature = "01"
	answerInvalid   = "02"
	answerRetry     = "99"
)

// maxIPNBytes bounds what the callback reads: an IPN is a few hundred bytes.
const maxIPNBytes = 64 << 10

// ServeHTTP is the payment platform's callback (IPN) endpoint.
func (f *Flow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxIPNBytes+1))
	if err != nil || len(body) > maxIPNBytes {
		http.Error(w, "notification unreadable or too large", http.StatusBadRequest)
		return
	}
	ans := f.HandleIPN(r.Context(), body)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(ans)
}

// judgement is what the hub decided about one notification.
type judgement struct {
	notice  store.PaymentNotice
	partner *Partner
	message string // MoTaLoi
}

func (j *judgement) refuse(code, reason string) {
	j.notice.Verdict, j.notice.Answer, j.notice.Reason, j.message = store.NoticeRefused, code, reason, reason
}

// HandleIPN judges one notification, applies it and returns the signed
// answer. Every notification is recorded with its verdict, refused ones
// included.
func (f *Flow) HandleIPN(ctx context.Context, body []byte) payment.IPNAnswer {
	ctx, span := tracing.Start(ctx, "payment notification", trace.SpanKindServer)
	defer span.End()
	j := judgement{notice: store.PaymentNotice{Payload: body, At: time.Now()}}
	n, err := payment.ParseIPN(body)
	if err != nil {
		j.refuse(answerInvalid, "notification is not a readable IPN")
	} else {
		j.notice.Ref, j.notice.Partner, j.notice.Code, j.notice.Amount = n.MaThamChieu, n.MaDoiTac, n.MaLoi, n.SoTien
		f.judge(ctx, n, &j)
	}
	if _, err := f.cfg.Store.AddPaymentNotice(context.WithoutCancel(ctx), j.notice); err != nil {
		// Unrecorded means unaccounted for: have the platform send it again.
		f.cfg.Log.ErrorContext(ctx, "payment notification not recorded", "reference", j.notice.Ref, "error", err.Error())
		j.notice.Answer, j.message = answerRetry, "internal error, retry later"
	}
	if j.notice.DossierID != "" {
		kind := "payment.ipn"
		if j.notice.Verdict == store.NoticeRefused {
			kind = "payment.ipn.refused"
		}
		detail := fmt.Sprintf("reference %s code %s verdict %s answer %s", j.notice.Ref, j.notice.Code, j.notice.Verdict, j.notice.Answer)
		if j.notice.Reason != "" {
			detail += ": " + j.notice.Reason
		}
		if err := f.event(context.WithoutCancel(ctx), j.notice.DossierID, f.sourceOf(j.notice.Partner), 0, kind, detail); err != nil {
			f.cfg.Log.WarnContext(ctx, "payment notification event not recorded", "reference", j.notice.Ref, "error", err.Error())
		}
	}
	if span.IsRecording() {
		span.SetAttributes(attrReference.String(j.notice.Ref), tracing.AttrDossier.String(j.notice.DossierID),
			tracing.AttrSource.String(f.sourceOf(j.notice.Partner)), attribute.String("payment.code", j.notice.Code),
			attribute.String("payment.verdict", j.notice.Verdict), attribute.String("payment.answer", j.notice.Answer))
	}
	if j.notice.Verdict == store.NoticeRefused {
		f.cfg.Log.WarnContext(ctx, "payment notification refused", "reference", j.notice.Ref, "dossier", j.notice.DossierID, "answer", j.notice.Answer, "reason", j.notice.Reason)
	}
	ans := payment.IPNAnswer{MaLoi: j.notice.Answer, MoTaLoi: j.message, MaDoiTac: n.MaDoiTac, MaThamChieu: n.MaThamChieu, ThoiGianGD: n.ThoiGianGD}
	if ans.MoTaLoi == "" {
		ans.MoTaLoi = "Thành công"
	}
	if j.partner != nil {
		ans = payment.SignAnswer(j.partner.Secret, ans)
	}
	return ans
}

func (f *Flow) sourceOf(partnerCode string) string { return f.byPartner[partnerCode] }

// judge checks n against the request the hub made and applies it.
func (f *Flow) judge(ctx context.Context, n payment.IPN, j *judgement) {
	src, ok := f.byPartner[n.MaDoiTac]
	if !ok {
		j.refuse(answerSignature, "MaDoiTac is not a configured partner")
		return
	}
	partner := f.cfg.Partners[src]
	if err := payment.VerifyIPN(partner.Secret, n); err != nil {
		j.refuse(answerSignature, "MaXacThuc does not verify")
		return
	}
	j.partner = &partner // signed answers from here on
	p, err := f.cfg.Store.GetPayment(ctx, n.MaThamChieu)
	if errors.Is(err, store.ErrNotFound) {
		j.refuse(answerInvalid, "MaThamChieu is not a payment request of the hub")
		return
	}
	if err != nil {
		f.cfg.Log.ErrorContext(ctx, "payment notification: read payment", "reference", n.MaThamChieu, "error", err.Error())
		j.notice.Verdict, j.notice.Answer, j.message = store.NoticeRefused, answerRetry, "internal error, retry later"
		j.notice.Reason = "store unavailable"
		return
	}
	j.notice.DossierID = p.DossierID
	switch {
	case p.Source != src:
		j.refuse(answerInvalid, "MaDoiTac does not match the partner of MaThamChieu")
		return
	case n.SoTien != p.Amount:
		j.refuse(answerInvalid, fmt.Sprintf("SoTien differs from the amount requested (%d)", p.Amount))
		return
	case n.MaTienTe != "" && n.MaTienTe != "VND":
		j.refuse(answerInvalid, "MaTienTe is not VND")
		return
	case p.TxnID != "" && n.MaGiaoDich != "" && n.MaGiaoDich != p.TxnID:
		j.refuse(answerInvalid, "MaGiaoDich differs from the transaction of MaThamChieu")
		return
	}
	var (
		to   string
		from []string
	)
	switch n.MaLoi {
	case "00":
		to, from = store.PaymentPaid, []string{store.PaymentNew, store.PaymentPending, store.PaymentFailed, store.PaymentCancelled}
	case "02":
		to, from = store.PaymentFailed, []string{store.PaymentNew, store.PaymentPending}
	case "03":
		to, from = store.PaymentCancelled, []string{store.PaymentNew, store.PaymentPending}
	default:
		j.refuse(answerInvalid, "MaLoi is not 00, 02 or 03")
		return
	}
	u := store.PaymentUpdate{From: from, State: to, TxnID: n.MaGiaoDich}
	if to == store.PaymentPaid && p.State != store.PaymentPaid {
		// The IPN signature does not cover MaLoi: a notification turned
		// from "failed" into "paid" on the way would verify. Money moves on
		// the platform's word, so ask it before believing "00".
		q, err := partner.Platform.Query(ctx, p.Ref)
		if err != nil {
			f.cfg.Log.Warn("payment notification: confirming query failed", "reference", p.Ref, "error", err.Error())
			j.notice.Verdict, j.notice.Answer, j.message, j.notice.Reason = store.NoticeRefused, answerRetry, "internal error, retry later", "confirming query failed"
			return
		}
		if q.State != "00" || (q.Amount != 0 && q.Amount != p.Amount) {
			j.refuse(answerInvalid, "MaLoi 00 is not confirmed by the platform's query (state "+q.State+")")
			return
		}
		if q.TxnID != "" {
			u.TxnID = q.TxnID
		}
		u.PaidAt = q.PaidAt
	}
	if to == store.PaymentPaid && u.PaidAt.IsZero() {
		u.PaidAt = time.Now()
		if t, ok := schemas.ParseTime(n.ThoiGianGD, payment.TimeLayout); ok {
			u.PaidAt = t
		}
	}
	p, changed, err := f.cfg.Store.UpdatePayment(ctx, p.Ref, u)
	if err != nil {
		f.cfg.Log.Error("payment notification: update payment", "reference", n.MaThamChieu, "error", err.Error())
		j.notice.Verdict, j.notice.Answer, j.message, j.notice.Reason = store.NoticeRefused, answerRetry, "internal error, retry later", "store unavailable"
		return
	}
	j.notice.Verdict, j.notice.Answer = store.NoticeDuplicate, answerOK
	if changed {
		j.notice.Verdict = store.NoticeAccepted
	}
	if p.State == store.PaymentPaid && p.SettledAt.IsZero() {
		// A duplicate settles too when the first one's settlement was not
		// recorded. Once it is, the reconciliation owns whatever is left,
		// so only failing to record it has the platform notify again.
		if err := f.settle(ctx, p); err != nil {
			f.cfg.Log.Warn("payment settlement not recorded; the platform will notify again", "reference", p.Ref, "dossier", p.DossierID, "error", err.Error())
			j.notice.Answer, j.message = answerRetry, "internal error, retry later"
		}
	}
}
