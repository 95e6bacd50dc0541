package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/connectors/breaker"
	"github.com/lienthong/lienthong/connectors/email"
	"github.com/lienthong/lienthong/connectors/payment"
	"github.com/lienthong/lienthong/connectors/sms"
	"github.com/lienthong/lienthong/connectors/vnpost"
	"github.com/lienthong/lienthong/flows/fees"
	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/flows/postal"
	"github.com/lienthong/lienthong/flows/writeback"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/schemas"
)

// level4 are the level-4 flows this configuration turns on; nil fields are
// off.
type level4 struct {
	detector *notify.Detector
	sms      *notify.Notifier // the SMS channel
	email    *notify.Notifier // the email channel
	fees     *fees.Flow
	postal   *postal.Flow
	mail     *email.Client // its idle SMTP sessions end with the hub
}

// handlerSpec is one router handler of the level-4 flows.
type handlerSpec struct {
	name    string
	topic   string
	consume message.NoPublishHandlerFunc // a consumer, or
	handle  message.HandlerFunc          // a handler publishing to out
	out     string
	// needs are the external systems the handler calls: while one's
	// breaker is open the handler takes no messages.
	needs []string
	// quarantine, when set, makes this handler the one of its topic that
	// quarantines the messages it cannot open, in this format.
	quarantine string
}

// handlers are the level-4 handlers: consumers of the canonical topic, and
// one consumer of the notices topic per channel.
func (l *level4) handlers(topics router.Topics) []handlerSpec {
	var out []handlerSpec
	if l.detector != nil {
		out = append(out, handlerSpec{name: "notices", topic: topics.Canonical(), handle: l.detector.Handle, out: topics.Notices()})
	}
	// One channel quarantines a notice that cannot be opened, for both.
	if l.sms != nil {
		out = append(out, handlerSpec{name: "notify-sms", topic: topics.Notices(), consume: l.sms.HandleNotice, needs: []string{endpointSMS},
			quarantine: schemas.FormatNotice})
	}
	if l.email != nil {
		spec := handlerSpec{name: "notify-email", topic: topics.Notices(), consume: l.email.HandleNotice, needs: []string{endpointSMTP}}
		if l.sms == nil {
			spec.quarantine = schemas.FormatNotice
		}
		out = append(out, spec)
	}
	if l.fees != nil {
		out = append(out, handlerSpec{name: "fees", topic: topics.Canonical(), consume: l.fees.HandleDossier, needs: []string{endpointPayment}})
	}
	if l.postal != nil {
		out = append(out, handlerSpec{name: "postal", topic: topics.Canonical(), consume: l.postal.HandleDossier, needs: []string{endpointVNPost}})
	}
	return out
}

// Endpoint names of the external systems (breakers, counts, logs).
const (
	endpointNational = "national"
	endpointPayment  = "payment"
	endpointVNPost   = "vnpost"
	endpointSMS      = "sms"
	endpointSMTP     = "smtp"
)

// buildLevel4 assembles the configured flows. Provinces are written back
// to through the same connectors the pollers pull with.
func (h *Hub) buildLevel4(sources []source, resync *router.Resyncer, notices *notify.Publisher) (*level4, error) {
	portals := map[string]writeback.Portal{}
	for _, s := range sources {
		portals[s.name] = s.writeback
	}
	wb := writeback.New(portals, h.store, h.cfg.Instance)
	l := &level4{}
	var smsC notify.SMS
	if c := h.cfg.SMS; c != nil {
		cl, err := sms.New(sms.Config{BaseURL: c.BaseURL, Username: c.Username, Password: c.Password,
			Brandname: c.Brandname, Timeout: durationOr(c.Timeout, 15*time.Second), HTTPClient: h.client(endpointSMS, c.Timeout)})
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
		mailC = &breakerMail{set: h.breakers, mail: cl}
		l.mail = cl
	}
	if smsC != nil {
		l.sms = notify.New(notify.Config{SMS: smsC, Store: h.store, Instance: h.cfg.Instance, Log: h.log})
	}
	if mailC != nil {
		l.email = notify.New(notify.Config{Mail: mailC, Store: h.store, Instance: h.cfg.Instance, Log: h.log})
	}
	var notifier fees.Notifier
	if smsC != nil || mailC != nil {
		l.detector = &notify.Detector{PaymentLinks: h.cfg.Payment != nil, Log: h.log}
		notifier = notices
	}
	if c := h.cfg.Payment; c != nil {
		partners := map[string]fees.Partner{}
		for _, s := range h.cfg.Sources {
			pc := s.Payment
			if pc == nil {
				continue
			}
			src := s.Name
			cl, err := h.paymentClient(*pc)
			if err != nil {
				return nil, fmt.Errorf("payment partner %s: %w", src, err)
			}
			partners[src] = fees.Partner{Code: pc.Code, Secret: pc.Secret, Platform: cl}
		}
		l.fees = fees.New(fees.Config{Partners: partners, Store: h.store, Writeback: wb, Notifier: notifier,
			Resync: resync, Instance: h.cfg.Instance, Log: h.log, QueryAfter: c.QueryAfter})
	}
	if c := h.cfg.VNPost; c != nil {
		cl, err := h.vnpostClient()
		if err != nil {
			return nil, err
		}
		senders := map[string]postal.Sender{}
		for _, src := range h.cfg.Sources {
			s := src.PostalSender
			if s == nil {
				continue
			}
			senders[src.Name] = postal.Sender{Name: s.Name, Tel: s.Tel, Address: s.Address, Province: s.Province, District: s.District, Email: s.Email}
		}
		var pn postal.Notifier
		if notifier != nil {
			pn = notices
		}
		l.postal = postal.New(postal.Config{Carrier: cl, Senders: senders, Store: h.store, Writeback: wb, Notifier: pn,
			Resync: resync, Instance: h.cfg.Instance, Log: h.log, PageSize: c.PageSize})
	}
	return l, nil
}

// paymentClient is the payment platform's client for one partner account
// (the payment section must be configured).
func (h *Hub) paymentClient(pc PartnerConfig) (*payment.Client, error) {
	c := h.cfg.Payment
	return payment.New(payment.Config{BaseURL: c.BaseURL, PartnerCode: pc.Code, Secret: pc.Secret,
		Timeout: durationOr(c.Timeout, 30*time.Second), HTTPClient: h.client(endpointPayment, c.Timeout)})
}

// vnpostClient is VNPost's client (the vnpost section must be configured).
func (h *Hub) vnpostClient() (*vnpost.Client, error) {
	c := h.cfg.VNPost
	return vnpost.New(vnpost.Config{BaseURL: c.BaseURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret,
		CustomerCode: c.CustomerCode, Timeout: durationOr(c.Timeout, 30*time.Second), HTTPClient: h.client(endpointVNPost, c.Timeout)})
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

// breakerMail sends mail through the SMTP relay's circuit breaker. Only
// transient failures count against the relay: a refused address is the
// message's problem.
type breakerMail struct {
	set  *breaker.Set
	mail *email.Client
}

func (b *breakerMail) Send(ctx context.Context, m email.Message) error {
	return b.set.Do(ctx, endpointSMTP, func(ctx context.Context) error { return b.mail.Send(ctx, m) }, email.IsTransient)
}
