package hub

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/connectors/email"
	"github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/connectors/sms"
	"github.com/lienthong/lienthong/connectors/vnpost"
	"github.com/lienthong/lienthong/flows/fees"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/postal"
	"github.com/lienthong/lienthong/flows/writeback"
	"github.com/lienthong/lienthong/router"
)

// level4 are the level-4 flows this configuration turns on; nil fields are
// off.
type level4 struct {
	notifier *notify.Notifier
	fees     *fees.Flow
	postal   *postal.Flow
}

// handlers are the level-4 consumers of the canonical topic, by name.
func (l *level4) handlers() map[string]message.NoPublishHandlerFunc {
	out := map[string]message.NoPublishHandlerFunc{}
	if l.notifier != nil {
		out["notify"] = l.notifier.HandleDossier
	}
	if l.fees != nil {
		out["fees"] = l.fees.HandleDossier
	}
	if l.postal != nil {
		out["postal"] = l.postal.HandleDossier
	}
	return out
}

// buildLevel4 assembles the configured flows. Provinces are written back
// to through the same connectors the pollers pull with.
func (h *Hub) buildLevel4(sources []source, resync *router.Resyncer) (*level4, error) {
	portals := map[string]writeback.Portal{}
	for _, s := range sources {
		portals[s.name] = s.writeback
	}
	wb := writeback.New(portals, h.store, h.cfg.Instance)
	l := &level4{}
	var smsC notify.SMS
	if c := h.cfg.SMS; c != nil {
		cl, err := sms.New(sms.Config{BaseURL: c.BaseURL, Username: c.Username, Password: c.Password,
			Brandname: c.Brandname, Timeout: durationOr(c.Timeout, 15*time.Second)})
		if err != nil {
			return nil, err
		}
		smsC = cl
	}
	var mailC notify.Mail
	if c := h.cfg.SMTP; c != nil {
		cl, err := email.New(email.Config{Addr: c.Addr, From: c.From, Username: c.Username, Password: c.Password,
			Timeout: durationOr(c.Timeout, 30*time.Second)})
		if err != nil {
			return nil, err
		}
		mailC = cl
	}
	if smsC != nil || mailC != nil {
		l.notifier = notify.New(notify.Config{SMS: smsC, Mail: mailC, Store: h.store, Instance: h.cfg.Instance,
			Log: h.log, PaymentLinks: h.cfg.Payment != nil})
	}
	var notifier fees.Notifier
	if l.notifier != nil {
		notifier = l.notifier
	}
	if c := h.cfg.Payment; c != nil {
		partners := map[string]fees.Partner{}
		for src, pc := range c.Partners {
			cl, err := payment.New(payment.Config{BaseURL: c.BaseURL, PartnerCode: pc.Code, Secret: pc.Secret,
				Timeout: durationOr(c.Timeout, 30*time.Second)})
			if err != nil {
				return nil, fmt.Errorf("payment partner %s: %w", src, err)
			}
			partners[src] = fees.Partner{Code: pc.Code, Secret: pc.Secret, Platform: cl}
		}
		l.fees = fees.New(fees.Config{Partners: partners, Store: h.store, Writeback: wb, Notifier: notifier,
			Resync: resync, Instance: h.cfg.Instance, Log: h.log, QueryAfter: c.QueryAfter})
	}
	if c := h.cfg.VNPost; c != nil {
		cl, err := vnpost.New(vnpost.Config{BaseURL: c.BaseURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
			CustomerCode: c.CustomerCode, Timeout: durationOr(c.Timeout, 30*time.Second)})
		if err != nil {
			return nil, err
		}
		senders := map[string]postal.Sender{}
		for src, s := range c.Senders {
			senders[src] = postal.Sender{Name: s.Name, Tel: s.Tel, Address: s.Address, Province: s.Province, District: s.District, Email: s.Email}
		}
		var pn postal.Notifier
		if l.notifier != nil {
			pn = l.notifier
		}
		l.postal = postal.New(postal.Config{Carrier: cl, Senders: senders, Store: h.store, Writeback: wb, Notifier: pn,
			Resync: resync, Instance: h.cfg.Instance, Log: h.log, PageSize: c.PageSize})
	}
	return l, nil
}

// loops are the level-4 background loops, each run by one instance at a
// time under its lease.
func (l *level4) loops(cfg Config) map[string]func(ctx context.Context) error {
	out := map[string]func(ctx context.Context) error{}
	if l.fees != nil {
		every := durationOr(cfg.Payment.ReconcileInterval, 10*time.Second)
		out["payments"] = func(ctx context.Context) error { return l.fees.Run(ctx, every) }
	}
	if l.postal != nil {
		every := durationOr(cfg.VNPost.PollInterval, 5*time.Second)
		out["vnpost-tracking"] = func(ctx context.Context) error { return l.postal.Follow(ctx, every) }
	}
	return out
}

// httpHandler is the hub's HTTP surface.
func (l *level4) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	if l.fees != nil {
		mux.Handle(PaymentCallbackPath, l.fees)
	}
	return mux
}
