package payment

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lienthong/lienthong/sim/gen"
	"github.com/lienthong/lienthong/sim/simctl"
)

// stateVersion is the format version of a payment snapshot. Raise it when
// state changes incompatibly; Restore then refuses older files clearly.
const stateVersion = 1

// state is everything the platform keeps across a restart, in the common
// simulator state format (simctl.WriteState). IPN retries still pending are
// not kept: after a restart such an IPN is lost, which the spec allows, and
// Query finds the result.
type state struct {
	Transactions []Transaction // creation order
	Seq          int64         // last MaGiaoDich sequence number
}

// Snapshot writes every transaction with its IPN attempts. Fault settings
// and pending IPN retries are not saved.
func (s *Server) Snapshot(w io.Writer) error {
	st := state{Transactions: s.Transactions()}
	s.mu.Lock()
	st.Seq = s.seq
	s.mu.Unlock()
	return simctl.WriteState(w, "payment", stateVersion, &st)
}

// Restore replaces the simulator's state with one written by Snapshot.
// Call before serving.
func (s *Server) Restore(r io.Reader) error {
	var st state
	if err := simctl.ReadState(r, "payment", stateVersion, &st); err != nil {
		return err
	}
	txs := make(map[txKey]*Transaction, len(st.Transactions))
	order := make([]*Transaction, 0, len(st.Transactions))
	tokens := make(map[string]bool, len(st.Transactions))
	var latest time.Time
	for i := range st.Transactions {
		tx := &st.Transactions[i]
		k := txKey{tx.Partner, tx.Ref}
		if tx.Ref == "" || tx.Partner == "" || txs[k] != nil {
			return fmt.Errorf("payment state: bad transaction %q", tx.Ref)
		}
		tx.Created, tx.PaidAt, tx.ResultAt = gen.InVN(tx.Created), gen.InVN(tx.PaidAt), gen.InVN(tx.ResultAt)
		if tx.IPN == nil {
			tx.IPN = []IPNAttempt{}
		}
		for j := range tx.IPN {
			tx.IPN[j].Time = gen.InVN(tx.IPN[j].Time)
			if tx.IPN[j].Time.After(latest) {
				latest = tx.IPN[j].Time
			}
		}
		for _, t := range []time.Time{tx.Created, tx.ResultAt} {
			if t.After(latest) {
				latest = t
			}
		}
		if i := strings.LastIndexByte(tx.PayURL, '/'); i >= 0 {
			tokens[tx.PayURL[i+1:]] = true
		}
		txs[k] = tx
		order = append(order, tx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.txs, s.order, s.tokens, s.seq = txs, order, tokens, st.Seq
	s.clock.NotBefore(latest)
	return nil
}
