package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/lienthong/lienthong/flows/notify"
	"github.com/lienthong/lienthong/sim/simctl"
)

// both is notice() with a phone number too: it goes by SMS and by email.
func both() notify.Notice {
	n := notice()
	n.Dossier.Applicant.Phone = "0912345678"
	return n
}

// sent counts what reached the applicant: SMS the gateway sent (a
// repeated requestId is answered, not sent again) and emails the relay
// took.
func (w *world) sent() (sms, mails int) {
	for _, m := range w.sms.Messages() {
		if !m.Duplicate {
			sms++
		}
	}
	return sms, len(w.relay.Mail())
}

// deliver hands n to the notifier as the notices topic does, or directly.
func (w *world) deliver(t *testing.T, n notify.Notice, viaTopic bool) error {
	t.Helper()
	if !viaTopic {
		return w.nf.Notify(context.Background(), n)
	}
	// Each publication is a message of its own (a new UUID), as when the
	// flow that raised the notice raises it again after a crash.
	msg, err := notify.NoticeMessage(n)
	if err != nil {
		t.Fatal(err)
	}
	msg.SetContext(context.Background())
	return w.nf.HandleNotice(msg)
}

// One notice per event and channel: the idempotency key names the dossier,
// the kind and the occurrence, so a redelivered event sends nothing more,
// and a new event (another kind, another entry into the status) is news.
func TestNoticeOncePerEventAndChannel(t *testing.T) {
	again := func(kind, occurrence string) func(notify.Notice) notify.Notice {
		return func(n notify.Notice) notify.Notice {
			n.Kind, n.Occurrence = kind, occurrence
			return n
		}
	}
	same := func(n notify.Notice) notify.Notice { return n }
	tests := []struct {
		name      string
		viaTopic  bool
		applicant func(n *notify.Notice)
		// second is what is delivered after both(): the same event again,
		// or another one.
		second    func(notify.Notice) notify.Notice
		sms, mail int
	}{
		{name: "the same event delivered twice goes once by each channel", second: same, sms: 1, mail: 1},
		{name: "the same event published twice on the topic goes once by each channel", viaTopic: true, second: same, sms: 1, mail: 1},
		{name: "a second entry into the status is news", second: again(notify.Received, "s3"), sms: 2, mail: 2},
		{name: "another kind of the same dossier is news", second: again(notify.ResultReady, "s1"), sms: 2, mail: 2},
		{name: "an applicant without a phone gets the email, once", applicant: func(n *notify.Notice) { n.Dossier.Applicant.Phone = "" },
			second: same, sms: 0, mail: 1},
		{name: "an applicant without an email gets the SMS, once", applicant: func(n *notify.Notice) { n.Dossier.Applicant.Email = "" },
			second: same, sms: 1, mail: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			first := both()
			if tc.applicant != nil {
				tc.applicant(&first)
			}
			second := tc.second(first)
			// A notice arrives with a dossier of its own each time.
			d := *first.Dossier
			second.Dossier = &d
			for _, n := range []notify.Notice{first, second} {
				if err := w.deliver(t, n, tc.viaTopic); err != nil {
					t.Fatal(err)
				}
			}
			// The timeline says what went, once per send, and nothing failed.
			w.checkOutcome(t, "after both", first.Dossier.ID, map[string]int{
				"sent sms": tc.sms, "sent mail": tc.mail, "notify.sms": tc.sms, "notify.email": tc.mail})
			for _, m := range w.sms.Messages() {
				if m.Duplicate {
					t.Errorf("SMS request %s sent twice: the hub itself should not repeat a confirmed one", m.RequestID)
				}
			}
		})
	}
}

// What a failed send does, by channel and kind of failure: a transient
// one (the gateway's 5xx, the relay's 451, either rejecting the hub's
// credentials) is returned, so the notice is delivered again, and the
// retry sends only what did not go; a permanent one (a number or address
// no retry will make valid) is recorded on the dossier's timeline, without
// the number or address, and skipped. Either way the other channel goes.
func TestNoticeSendFailures(t *testing.T) {
	const phone, address = "0212 385 2000", "minh(at)example.vn" // a landline; no @
	tests := []struct {
		name      string
		applicant func(n *notify.Notice)
		fault     func(t *testing.T, w *world) // before the first delivery
		heal      func(t *testing.T, w *world) // before the retry; nil: no retry
		transient bool
		// after the first delivery, then after the retry
		first, retry map[string]int // timeline kinds; counts of sms and mail under "sent sms" and "sent mail"
	}{{
		name:      "the SMS gateway failing is transient: the email goes, the retry sends the SMS",
		fault:     func(t *testing.T, w *world) { patch(t, w.sms.Controller(), `{"error_rate":1}`) },
		heal:      func(t *testing.T, w *world) { patch(t, w.sms.Controller(), `{"error_rate":0}`) },
		transient: true,
		first:     map[string]int{"sent sms": 0, "sent mail": 1, "notify.email": 1},
		retry:     map[string]int{"sent sms": 1, "sent mail": 1, "notify.sms": 1, "notify.email": 1},
	}, {
		name:      "the relay failing (451) is transient: the SMS goes, the retry sends the email",
		fault:     func(t *testing.T, w *world) { patch(t, w.relay.Controller(), `{"error_rate":1}`) },
		heal:      func(t *testing.T, w *world) { patch(t, w.relay.Controller(), `{"error_rate":0}`) },
		transient: true,
		first:     map[string]int{"sent sms": 1, "sent mail": 0, "notify.sms": 1},
		retry:     map[string]int{"sent sms": 1, "sent mail": 1, "notify.sms": 1, "notify.email": 1},
	}, {
		// The hub's own store failing is no refusal by the gateway: the
		// notice is retried, not recorded as refused and dropped.
		name:      "the store failing to claim the SMS key is the hub's failure: retried",
		fault:     func(t *testing.T, w *world) { w.failStore(&faultyKeys{claim: errStore}) },
		heal:      func(*testing.T, *world) {}, // the fault happens once
		transient: true,
		first:     map[string]int{"sent sms": 0, "sent mail": 1, "notify.email": 1},
		retry:     map[string]int{"sent sms": 1, "sent mail": 1, "notify.sms": 1, "notify.email": 1},
	}, {
		// Sent and not confirmed: the retry sends it again with the same
		// requestId, which the gateway answers without a second SMS.
		name:      "the store failing to confirm a sent SMS: retried, and the gateway's key keeps it to one",
		fault:     func(t *testing.T, w *world) { w.failStore(&faultyKeys{confirm: errStore}) },
		heal:      func(*testing.T, *world) {},
		transient: true,
		first:     map[string]int{"sent sms": 1, "sent mail": 1, "notify.email": 1},
		retry:     map[string]int{"sent sms": 1, "sent mail": 1, "notify.sms": 1, "notify.email": 1},
	}, {
		// Rejected credentials are the hub's configuration: every SMS would
		// be refused alike, so none is dropped; the notice waits for the fix.
		name:      "the SMS gateway rejecting the hub's credentials (401) is retried, not recorded as refused",
		fault:     func(t *testing.T, w *world) { w.smsPassword(t, "wrong") },
		heal:      func(t *testing.T, w *world) { w.smsPassword(t, "hub-secret") },
		transient: true,
		first:     map[string]int{"sent sms": 0, "sent mail": 1, "notify.email": 1},
		retry:     map[string]int{"sent sms": 1, "sent mail": 1, "notify.sms": 1, "notify.email": 1},
	}, {
		name:      "the relay rejecting the hub's credentials (535) is retried, not recorded as refused",
		fault:     func(t *testing.T, w *world) { w.mailPassword(t, "wrong") },
		heal:      func(t *testing.T, w *world) { w.mailPassword(t, "relay-secret") },
		transient: true,
		first:     map[string]int{"sent sms": 1, "sent mail": 0, "notify.sms": 1},
		retry:     map[string]int{"sent sms": 1, "sent mail": 1, "notify.sms": 1, "notify.email": 1},
	}, {
		name:      "a number that is no mobile is permanent: recorded, skipped; the email goes",
		applicant: func(n *notify.Notice) { n.Dossier.Applicant.Phone = phone },
		first:     map[string]int{"sent sms": 0, "sent mail": 1, "notify.sms.failed": 1, "notify.email": 1},
	}, {
		name:      "an address that is none is permanent: recorded, skipped; the SMS goes",
		applicant: func(n *notify.Notice) { n.Dossier.Applicant.Email = address },
		first:     map[string]int{"sent sms": 1, "sent mail": 0, "notify.sms": 1, "notify.email.failed": 1},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			n := both()
			if tc.applicant != nil {
				tc.applicant(&n)
			}
			if tc.fault != nil {
				tc.fault(t, w)
			}
			err := w.nf.Notify(context.Background(), n)
			if tc.transient != (err != nil) {
				t.Fatalf("Notify: err %v; want an error to retry: %v", err, tc.transient)
			}
			w.checkOutcome(t, "after the first delivery", n.Dossier.ID, tc.first)
			if tc.heal == nil {
				return
			}
			tc.heal(t, w)
			if err := w.nf.Notify(context.Background(), n); err != nil {
				t.Fatalf("retry: %v", err)
			}
			w.checkOutcome(t, "after the retry", n.Dossier.ID, tc.retry)
		})
	}
	// Nothing about the applicant in what is recorded or logged of a
	// refusal: only the kinds and the errors.
	t.Run("no number or address in the record of a refusal", func(t *testing.T) {
		w := newWorld(t)
		n := both()
		n.Dossier.Applicant.Phone, n.Dossier.Applicant.Email = phone, address
		if err := w.nf.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		tl, err := w.store.Timeline(context.Background(), n.Dossier.ID)
		if err != nil {
			t.Fatal(err)
		}
		var record strings.Builder
		for _, ev := range tl {
			record.WriteString(ev.Kind + " " + ev.Detail + "\n")
		}
		record.WriteString(w.log.String())
		for _, personal := range []string{"385", "minh"} {
			if strings.Contains(record.String(), personal) {
				t.Errorf("%q in the timeline or the log:\n%s", personal, record.String())
			}
		}
		if !strings.Contains(record.String(), "notify.sms.failed received: ") || !strings.Contains(record.String(), "notify.email.failed received: ") {
			t.Errorf("the refusals are not on the timeline with their kind:\n%s", record.String())
		}
	})
}

// checkOutcome compares what was sent and the timeline's notify kinds with
// want (zero counts included: a kind not wanted must not be there).
func (w *world) checkOutcome(t *testing.T, when, id string, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	got["sent sms"], got["sent mail"] = w.sent()
	for kind, c := range w.kinds(t, id) {
		if strings.HasPrefix(kind, "notify.") {
			got[kind] = c
		}
	}
	for k, c := range want {
		if got[k] != c {
			t.Errorf("%s: %s = %d; want %d (all: %v)", when, k, got[k], c, got)
		}
	}
	for k, c := range got {
		if _, ok := want[k]; !ok && c != 0 {
			t.Errorf("%s: %s = %d; want none (all: %v)", when, k, c, got)
		}
	}
}

// patch sets a simulator's faults.
func patch(t *testing.T, c *simctl.Controller, faults string) {
	t.Helper()
	if _, err := c.Patch([]byte(faults)); err != nil {
		t.Fatal(err)
	}
}

var errStore = errors.New("database is locked")

// faultyKeys is the store failing the next idempotency claim or
// confirmation, once.
type faultyKeys struct {
	notify.Store
	mu             sync.Mutex
	claim, confirm error
}

func (k *faultyKeys) ClaimIdempotency(ctx context.Context, key, effect string) (bool, []byte, error) {
	if err := k.take(&k.claim); err != nil {
		return false, nil, err
	}
	return k.Store.ClaimIdempotency(ctx, key, effect)
}

func (k *faultyKeys) ConfirmIdempotency(ctx context.Context, key string, result []byte) error {
	if err := k.take(&k.confirm); err != nil {
		return err
	}
	return k.Store.ConfirmIdempotency(ctx, key, result)
}

func (k *faultyKeys) take(fault *error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	err := *fault
	*fault = nil
	return err
}

// failStore makes the notifier's store fail as k says.
func (w *world) failStore(k *faultyKeys) {
	k.Store = w.store
	cfg := w.cfg
	cfg.Store = k
	w.nf = notify.New(cfg)
}
