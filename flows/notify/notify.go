// Package notify tells applicants, by SMS and email, about the changes they
// care about: received, supplement required, fee due (with the payment
// link), result ready, delivered. Each notification goes once per event and
// channel, whatever the redeliveries: its idempotency key names the dossier,
// the kind and the occurrence.
package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/lienthong/lienthong/connectors/email"
	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/flows/once"
	"github.com/lienthong/lienthong/ops/tracing"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// SMS is the brand-name SMS gateway.
type SMS interface {
	Send(ctx context.Context, phone, message, requestID string) (messageID string, err error)
}

// Mail is the SMTP relay.
type Mail interface {
	Send(ctx context.Context, m email.Message) error
}

// Store keeps idempotency keys and the dossier timeline.
type Store interface {
	once.Keys
	AppendEvents(ctx context.Context, events []store.Event) error
}

// Config wires a Notifier. SMS or Mail may be nil to leave that channel out.
type Config struct {
	SMS      SMS
	Mail     Mail
	Store    Store
	Instance string
	Log      *slog.Logger
	// MailDomain is the right-hand side of Message-IDs.
	MailDomain string
}

// Notifier sends notifications.
type Notifier struct {
	cfg Config
}

// New returns a notifier.
func New(cfg Config) *Notifier {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MailDomain == "" {
		cfg.MailDomain = "lienthong.invalid"
	}
	return &Notifier{cfg: cfg}
}

// Notice is one event to tell the applicant about. It travels on the
// notices topic, so each channel is sent by its own consumer and one
// channel's outage holds up neither the other nor the flows that raise
// notices.
type Notice struct {
	Kind string `json:"kind"`
	// Occurrence tells repeated events of one kind apart (the second
	// supplement request of a dossier is news); redeliveries of the same
	// event carry the same occurrence.
	Occurrence string           `json:"occurrence"`
	Dossier    *schemas.Dossier `json:"dossier"`
	Amount     int64            `json:"amount,omitempty"`   // FeeDue: VND to pay
	PayURL     string           `json:"payUrl,omitempty"`   // FeeDue: the payment link
	ItemCode   string           `json:"itemCode,omitempty"` // Delivered: the VNPost item code
}

func (n Notice) key(channel string) string {
	return "notify/" + channel + "/" + n.Dossier.ID + "/" + n.Kind + "/" + n.Occurrence
}

// Notify sends n by SMS and by email, each once. An applicant without a
// phone number or an email simply gets fewer messages; a message the
// gateway refuses for good (an invalid number) is recorded and skipped, so it
// never holds up the dossiers behind it. Transient failures, and the hub's
// own (its store failing around the send), are returned for a retry.
func (nf *Notifier) Notify(ctx context.Context, n Notice) error {
	t := compose(n)
	d := n.Dossier
	var errs []error
	if nf.cfg.SMS != nil && d.Applicant.Phone != "" && t.sms != "" {
		key := n.key("sms")
		errs = append(errs, nf.send(ctx, d, n.Kind, "sms", func(ctx context.Context) (bool, error) {
			// The gateway takes requestId as its idempotency key: a repeat
			// after a crash sends nothing.
			_, done, err := once.Do(ctx, nf.cfg.Store, key, "notify sms", func(ctx context.Context) ([]byte, error) {
				id, err := nf.cfg.SMS.Send(ctx, d.Applicant.Phone, t.sms, requestID(key))
				return []byte(id), answered(err)
			})
			return done, err
		}))
	}
	if nf.cfg.Mail != nil && d.Applicant.Email != "" {
		key := n.key("email")
		errs = append(errs, nf.send(ctx, d, n.Kind, "email", func(ctx context.Context) (bool, error) {
			return nf.mail(ctx, d, n.Kind, key, t)
		}))
	}
	return errors.Join(errs...)
}

// mail sends the email once per key. SMTP keeps no idempotency key, so the
// send records its progress: a marker just before DATA, the confirmation
// as soon as the relay answers 250 (before QUIT). A crash between the two,
// or a reply lost after the whole message went, is the one case that can
// send it twice; the retry finds the marker, sends it again with the same
// Message-ID (so a receiving system can drop the copy) and notes it on the
// dossier's timeline.
func (nf *Notifier) mail(ctx context.Context, d *schemas.Dossier, kind, key string, t text) (bool, error) {
	var again bool
	_, done, err := once.DoTracked(ctx, nf.cfg.Store, key, "notify email", func(ctx context.Context, p *once.Progress) ([]byte, error) {
		err := nf.cfg.Mail.Send(ctx, email.Message{
			To: d.Applicant.Email, Subject: t.subject, Body: t.body,
			MessageID: "<" + requestID(key) + "@" + nf.cfg.MailDomain + ">",
			BeforeData: func(ctx context.Context) (err error) {
				again, err = p.Committing(ctx)
				return err
			},
			Accepted: func(ctx context.Context) {
				// A failure here is confirmed again once Send returns.
				_ = p.Done(ctx, nil)
			},
		})
		if email.Uncertain(err) {
			p.Uncertain() // the reply to the message was lost: as good as a crash
		}
		return nil, answered(err)
	})
	if again && err == nil {
		nf.cfg.Log.WarnContext(ctx, "email sent again after an attempt stopped between DATA and its confirmation; the relay may have it twice, with one Message-ID",
			"source", d.Source, "dossier", d.ID, "kind", kind)
		if aerr := nf.cfg.Store.AppendEvents(ctx, []store.Event{{DossierID: d.ID, Source: d.Source, Version: d.SourceVersion,
			Kind: "notify.email.resent", Detail: kind + ": an earlier attempt stopped after DATA; possibly a duplicate, same Message-ID",
			At: time.Now(), Instance: nf.cfg.Instance}}); aerr != nil {
			// Sent and confirmed: the note is lost, not the email.
			nf.cfg.Log.WarnContext(ctx, "notify: resent note not recorded", "source", d.Source, "dossier", d.ID, "error", aerr.Error())
		}
	}
	return done, err
}

// send runs one channel's once-only send and notes the outcome on the
// dossier's timeline.
func (nf *Notifier) send(ctx context.Context, d *schemas.Dossier, kind, channel string, run func(context.Context) (done bool, err error)) (ferr error) {
	ctx, span := tracing.StartFor(ctx, "notify "+channel, trace.SpanKindClient, d.Source, d.ID)
	defer func() { tracing.End(span, ferr) }()
	done, err := run(ctx)
	if span.IsRecording() {
		// Never the number or the address.
		span.SetAttributes(attribute.String("notify.kind", kind), attribute.String("notify.channel", channel), attribute.Bool("lienthong.already_done", done))
		if err != nil && refused(err) {
			span.SetAttributes(attrOutcome.String("refused"))
		}
	}
	if done {
		return nil
	}
	ev := store.Event{DossierID: d.ID, Source: d.Source, Version: d.SourceVersion,
		Kind: "notify." + channel, Detail: kind, At: time.Now(), Instance: nf.cfg.Instance}
	if err != nil {
		if !refused(err) {
			return fmt.Errorf("notify %s of %s dossier %s by %s: %w", kind, d.Source, d.ID, channel, err)
		}
		// Permanent: tell the operators, never the number or address.
		nf.cfg.Log.WarnContext(ctx, "notification refused", "source", d.Source, "dossier", d.ID, "kind", kind, "channel", channel, "error", err.Error())
		ev.Kind, ev.Detail = "notify."+channel+".failed", kind+": "+err.Error()
	}
	if err := nf.cfg.Store.AppendEvents(ctx, []store.Event{ev}); err != nil {
		return fmt.Errorf("provenance of %s dossier %s: %w", d.Source, d.ID, err)
	}
	return nil
}

// attrOutcome says how a notification went, on its span.
const attrOutcome = attribute.Key("lienthong.outcome")

// requestID derives the gateway's request id (and the email Message-ID)
// from the idempotency key: stable across redeliveries and instances, and
// free of the characters gateways reject.
func requestID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "lt" + hex.EncodeToString(sum[:15])
}

// channelError is the gateway's or the relay's own answer to a message, as
// opposed to the hub's own failure (the store's, around the send).
type channelError struct{ err error }

func (e *channelError) Error() string { return e.err.Error() }
func (e *channelError) Unwrap() error { return e.err }

// answered marks err as the channel's answer.
func answered(err error) error {
	if err == nil {
		return nil
	}
	return &channelError{err}
}

// refused reports whether err is the channel refusing the message for good.
// Anything else, the hub's own store failing included, is retried: a
// notice is skipped only when no retry can send it.
func refused(err error) bool {
	var ce *channelError
	return errors.As(err, &ce) && !transient(err)
}

// transient reports whether retrying err later can help.
//
// Rejected credentials are the hub's configuration, not the message's:
// every notice would be refused alike until an operator fixes them, so
// they are retried (the notices wait in Kafka) rather than dropped.
func transient(err error) bool {
	if errors.Is(err, httpx.ErrAuth) {
		return true
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return he.Transient
	}
	return email.IsTransient(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// HandleNotice is a Watermill handler on the notices topic: it sends the
// notice on this notifier's channels.
func (nf *Notifier) HandleNotice(msg *message.Message) error {
	var n Notice
	if err := json.Unmarshal(msg.Payload, &n); err != nil || n.Dossier == nil {
		nf.cfg.Log.Warn("notify: unreadable notice", "uuid", msg.UUID)
		return nil // only the hub writes notices: a bug to look at, not to retry
	}
	return nf.Notify(msg.Context(), n)
}

// NoticeMessage wraps n for the notices topic, keyed by dossier.
func NoticeMessage(n Notice) (*message.Message, error) {
	body, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encode notice %s of dossier %s: %w", n.Kind, n.Dossier.ID, err)
	}
	msg := message.NewMessage(watermill.NewUUID(), body)
	msg.Metadata.Set(kafka.PartitionKeyMetadata, n.Dossier.ID)
	msg.Metadata.Set(schemas.MetadataSource, n.Dossier.Source)
	return msg, nil
}

// Publisher raises notices onto the notices topic; the flows that raise
// them (fees, postal) then never wait on the SMS gateway or SMTP.
type Publisher struct {
	Publisher message.Publisher
	Topic     string
}

// Notify publishes n; the trace of ctx goes on to the channels.
func (p *Publisher) Notify(ctx context.Context, n Notice) error {
	msg, err := NoticeMessage(n)
	if err != nil {
		return err
	}
	tracing.Inject(ctx, msg.Metadata)
	return p.Publisher.Publish(p.Topic, msg)
}

// Detector turns dossiers' status changes into notices.
type Detector struct {
	// PaymentLinks says the fees flow requests online payments and raises
	// the fee-due notice with the link itself; the detector then only
	// raises it for fees payable at the office.
	PaymentLinks bool
	Log          *slog.Logger
}

// Handle is a Watermill handler from the canonical topic to the notices
// topic: the dossier's current status, when it is news to the applicant.
func (dt *Detector) Handle(msg *message.Message) ([]*message.Message, error) {
	if schemas.StatusElsewhere(msg.Metadata.Get(schemas.MetadataStatus),
		schemas.StatusReceived, schemas.StatusSupplement, schemas.StatusResolved, schemas.StatusFeeDue) {
		return nil, nil // no notice for this status (see statusNotice)
	}
	var d schemas.Dossier
	if err := json.Unmarshal(msg.Payload, &d); err != nil {
		// The national sink quarantines unreadable canonical messages; here
		// there is nothing to tell anyone.
		if dt.Log != nil {
			dt.Log.Warn("notify: unreadable canonical message", "uuid", msg.UUID, "error", err.Error())
		}
		return nil, nil
	}
	n, ok := dt.statusNotice(&d)
	if !ok {
		return nil, nil
	}
	out, err := NoticeMessage(n)
	if err != nil {
		return nil, err
	}
	return []*message.Message{out}, nil
}

// statusNotice says which notice, if any, the dossier's current status is.
func (dt *Detector) statusNotice(d *schemas.Dossier) (Notice, bool) {
	if d.Deleted || (d.Applicant.Phone == "" && d.Applicant.Email == "") {
		return Notice{}, false
	}
	n := Notice{Dossier: d, Occurrence: Occurrence(d)}
	switch d.Status {
	case schemas.StatusReceived:
		n.Kind = Received
	case schemas.StatusSupplement:
		n.Kind = Supplement
	case schemas.StatusResolved:
		n.Kind = ResultReady
	case schemas.StatusFeeDue:
		var office, online int64
		for _, f := range d.Fees {
			switch {
			case f.Paid:
			case f.PaymentMethod == schemas.PayOnline:
				online += f.Amount
			case f.PaymentMethod == schemas.PayCOD:
				// collected with the result, not now
			default:
				office += f.Amount
			}
		}
		if dt.PaymentLinks && online > 0 {
			return Notice{}, false // the fees flow raises it, with the link
		}
		if office+online == 0 {
			return Notice{}, false
		}
		n.Kind, n.Amount = FeeDue, office+online
	default:
		return Notice{}, false
	}
	return n, true
}

// Occurrence identifies the dossier's current entry into its status: the
// position of the latest processing step that set it. Versions that only
// change other fields keep it; a second entry into the status changes it.
func Occurrence(d *schemas.Dossier) string {
	for i := len(d.Steps) - 1; i >= 0; i-- {
		if d.Steps[i].Status == d.Status {
			return fmt.Sprintf("s%d", i+1)
		}
	}
	return "s0"
}
