package devenv

import (
	"fmt"
	"math/rand/v2"
	"time"

	pay "github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/sim/payment"
)

// PayPending plays the applicants of `hub dev`: every payment request older
// than wait is paid. One in ten notifications is lost (the hub must find the
// payment by query) and one in ten arrives twice. It returns how many it
// paid.
func (s *Sims) PayPending(wait time.Duration, rng *rand.Rand) int {
	paid := 0
	for _, tx := range s.Payment.Transactions() {
		if tx.State != pay.StatePending || time.Since(tx.Created) < wait {
			continue
		}
		deliver, twice := true, false
		switch n := rng.IntN(10); n {
		case 0:
			deliver = false
		case 1:
			twice = true
		}
		code := "00"
		if _, err := s.Payment.Pay(tx.Ref, payment.PayRequest{MaLoi: &code, DeliverIPN: &deliver, DuplicateIPN: &twice, MaDoiTac: tx.Partner}); err == nil {
			paid++
		}
	}
	return paid
}

// Level4Line summarises the level-4 simulators for `hub dev`'s progress.
func (s *Sims) Level4Line() string {
	var pending, paid int
	for _, tx := range s.Payment.Transactions() {
		switch tx.State {
		case pay.StatePending:
			pending++
		case pay.StatePaid:
			paid++
		}
	}
	orders, delivered := 0, 0
	for _, o := range s.VNPost.Orders() {
		orders++
		for _, ev := range o.Tracking {
			if ev.StatusCode == 14 {
				delivered++
				break
			}
		}
	}
	return fmt.Sprintf("payments %d pending, %d paid · VNPost orders %d, delivered %d · SMS %d · emails %d",
		pending, paid, orders, delivered, len(s.SMS.Messages()), len(s.Mail.Mail()))
}
