package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	pay "github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/sim/simctl"
)

// defaultBank is the MaNganHang of an IPN when neither the create request
// nor the pay control named one (the payer picked a bank on the page).
const defaultBank = "VCB"

// PayRequest is the POST /_sim/pay/{MaThamChieu} body; omitted keys take
// the defaults noted.
type PayRequest struct {
	MaLoi        *string `json:"MaLoi"`         // "00" paid (default), "02" failed, "03" cancelled
	DeliverIPN   *bool   `json:"deliver_ipn"`   // default true; false: the IPN is lost
	DuplicateIPN *bool   `json:"duplicate_ipn"` // default false; true: sent twice concurrently
	// MaDoiTac picks the partner when several used the same MaThamChieu.
	MaDoiTac string `json:"MaDoiTac,omitempty"`
	// MaNganHang is the bank the payer used; default the create request's,
	// else "VCB".
	MaNganHang string `json:"MaNganHang,omitempty"`
}

// PayResult answers POST /_sim/pay: the transaction after the change and
// the first attempt of each IPN sent (none when deliver_ipn is false).
// Retries of IPNs not delivered continue in the background.
type PayResult struct {
	Transaction Transaction  `json:"transaction"`
	IPN         []IPNAttempt `json:"ipn"`
}

// Errors of the pay control, mapped to HTTP 404 and 409.
var (
	errUnknown  = errors.New("unknown MaThamChieu")
	errConflict = errors.New("conflict")
)

// registerSim adds the payment platform's /_sim/ controls.
func (s *Server) registerSim(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/pay/{ref}", func(w http.ResponseWriter, r *http.Request) {
		body, err := simctl.ReadBody(r)
		var req PayRequest
		if err == nil && len(bytes.TrimSpace(body)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			err = dec.Decode(&req)
		}
		if err != nil {
			simctl.WriteError(w, http.StatusBadRequest, fmt.Errorf("pay: %w", err))
			return
		}
		res, err := s.Pay(r.PathValue("ref"), req)
		switch {
		case errors.Is(err, errUnknown):
			simctl.WriteError(w, http.StatusNotFound, err)
		case errors.Is(err, errConflict):
			simctl.WriteError(w, http.StatusConflict, err)
		case err != nil:
			simctl.WriteError(w, http.StatusBadRequest, err)
		default:
			simctl.WriteJSON(w, http.StatusOK, res)
		}
	})
	mux.HandleFunc("GET /_sim/transactions", func(w http.ResponseWriter, r *http.Request) {
		txs := s.Transactions()
		if ref := r.URL.Query().Get("ref"); ref != "" { // ?ref= narrows to one MaThamChieu
			out := txs[:0]
			for _, tx := range txs {
				if tx.Ref == ref {
					out = append(out, tx)
				}
			}
			txs = out
		}
		simctl.WriteJSON(w, http.StatusOK, txs)
	})
}

// Pay sets the result of the transaction ref (as POST /_sim/pay does) and,
// unless req.DeliverIPN is false, sends its IPN and waits for the first
// attempt; retries continue in the background. A paid transaction cannot
// fail or be cancelled afterwards; paying it again re-sends the same IPN.
func (s *Server) Pay(ref string, req PayRequest) (PayResult, error) {
	code := pay.StatePaid
	if req.MaLoi != nil {
		code = *req.MaLoi
	}
	if code != pay.StatePaid && code != pay.StateFailed && code != pay.StateCancelled {
		return PayResult{}, errors.New(`pay: MaLoi must be "00", "02" or "03"`)
	}
	deliver := req.DeliverIPN == nil || *req.DeliverIPN
	copies := 1
	if req.DuplicateIPN != nil && *req.DuplicateIPN {
		copies = 2
	}

	s.mu.Lock()
	tx, err := s.find(ref, req.MaDoiTac)
	if err != nil {
		s.mu.Unlock()
		return PayResult{}, err
	}
	if tx.State == pay.StatePaid && code != pay.StatePaid {
		s.mu.Unlock()
		return PayResult{}, fmt.Errorf("pay %s: %w: the transaction is paid", ref, errConflict)
	}
	now := s.clock.Now()
	if code != pay.StatePaid || tx.State != pay.StatePaid {
		tx.State, tx.ResultAt = code, now
		if code == pay.StatePaid {
			tx.PaidAt = now
		}
	}
	switch {
	case req.MaNganHang != "":
		tx.Bank = req.MaNganHang
	case tx.Bank == "":
		tx.Bank = defaultBank
	}
	secret := s.cfg.Partners[tx.Partner]
	n := pay.SignIPN(secret, pay.IPN{
		LoaiBanTin: pay.MsgResult, MaLoi: code, MaDoiTac: tx.Partner, MaThamChieu: tx.Ref,
		SoTien: tx.Amount, MaTienTe: pay.Currency, MaGiaoDich: tx.TxnID, MaNganHang: tx.Bank,
		ThoiGianGD: pay.FormatTime(tx.ResultAt), ThongTinGiaoDich: requestDescription(tx.Request),
	})
	var first []int // delivery numbers
	if deliver {
		for range copies {
			tx.IPNsSent++
			first = append(first, tx.IPNsSent)
		}
	} else {
		tx.IPNsLost++
	}
	s.mu.Unlock()

	res := PayResult{IPN: []IPNAttempt{}}
	if deliver {
		body, _ := json.Marshal(n)
		attempts := make([]IPNAttempt, len(first))
		var wg sync.WaitGroup
		for i, d := range first {
			wg.Add(1)
			go func() {
				defer wg.Done()
				attempts[i] = s.attempt(tx, secret, n, body, d, 1)
			}()
		}
		wg.Wait()
		for i, a := range attempts {
			if !a.Delivered && s.cfg.CallbackURL != "" {
				s.retryLater(tx, secret, n, body, first[i])
			}
		}
		res.IPN = attempts
	}
	s.mu.Lock()
	res.Transaction = tx.clone()
	s.mu.Unlock()
	return res, nil
}

// find returns the transaction of ref (of partner, when given); s.mu is held.
func (s *Server) find(ref, partner string) (*Transaction, error) {
	if partner != "" {
		if tx := s.txs[txKey{partner, ref}]; tx != nil {
			return tx, nil
		}
		return nil, fmt.Errorf("pay %s: %w for partner %s", ref, errUnknown, partner)
	}
	var found *Transaction
	for k, tx := range s.txs {
		if k.ref != ref {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("pay %s: several partners used this MaThamChieu; name one in MaDoiTac", ref)
		}
		found = tx
	}
	if found == nil {
		return nil, fmt.Errorf("pay %s: %w", ref, errUnknown)
	}
	return found, nil
}

// requestDescription is ThongTinGiaoDich of the stored create request.
func requestDescription(req json.RawMessage) string {
	var m struct {
		ThongTinGiaoDich string `json:"ThongTinGiaoDich"`
	}
	_ = json.Unmarshal(req, &m)
	return m.ThongTinGiaoDich
}

// retryLater re-sends an IPN after each of RetryDelays until it is
// delivered, the delays run out or the server closes.
func (s *Server) retryLater(tx *Transaction, secret string, n pay.IPN, body []byte, delivery int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.cfg.RetryDelays) == 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for i, d := range s.cfg.RetryDelays {
			t := time.NewTimer(d)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			if s.attempt(tx, secret, n, body, delivery, i+2).Delivered {
				return
			}
		}
	}()
}

// attempt POSTs the IPN once, judges the answer and records the attempt.
func (s *Server) attempt(tx *Transaction, secret string, n pay.IPN, body []byte, delivery, no int) IPNAttempt {
	a := IPNAttempt{Delivery: delivery, Attempt: no, Time: s.clock.Now(), MaLoi: n.MaLoi}
	if err := s.post(&a, secret, n, body); err != nil {
		a.Error = err.Error()
	}
	s.mu.Lock()
	tx.IPN = append(tx.IPN, a)
	s.mu.Unlock()
	return a
}

// post sends the IPN and fills a from the answer; the error says why the
// IPN does not count as delivered.
func (s *Server) post(a *IPNAttempt, secret string, n pay.IPN, body []byte) error {
	if s.cfg.CallbackURL == "" {
		return errors.New("no CallbackURL configured")
	}
	ctx, cancel := context.WithTimeout(s.ctx, ipnTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	a.Status = resp.StatusCode
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return err
	}
	ans, perr := pay.ParseAnswer(raw)
	if perr == nil {
		a.Answer = ans.MaLoi
		a.SignatureOK = pay.VerifyAnswer(secret, ans) == nil
	}
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	case perr != nil:
		return perr
	case ans.MaLoi != pay.CodeOK:
		return fmt.Errorf("answered MaLoi %s", ans.MaLoi)
	case !a.SignatureOK:
		return errors.New("the answer's signature does not verify")
	case ans.MaDoiTac != n.MaDoiTac || ans.MaThamChieu != n.MaThamChieu:
		return errors.New("the answer names another MaDoiTac or MaThamChieu")
	}
	a.Delivered = true
	return nil
}
