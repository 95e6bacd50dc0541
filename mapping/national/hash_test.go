package national_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/lienthong/lienthong/mapping/national"
	"github.com/lienthong/lienthong/schemas"
)

func TestContentHash(t *testing.T) {
	h := national.ContentHash(dossier())
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("hash %q", h)
	}
	if national.ContentHash(dossier()) != h {
		t.Error("not deterministic")
	}

	// Source bookkeeping does not count.
	d := dossier()
	d.SourceVersion = 99
	now := time.Now()
	d.SourceUpdated = &now
	if national.ContentHash(d) != h {
		t.Error("bookkeeping changed the hash")
	}
	d.SourceUpdated = nil
	if national.ContentHash(d) != h {
		t.Error("absent SourceUpdated changed the hash")
	}

	// The same instants in another zone are the same content.
	d = dossier()
	hcm := time.FixedZone("ICT", 7*3600)
	for _, p := range []**time.Time{&d.SubmittedAt, &d.ReceivedAt, &d.DueAt, &d.ReturnedAt} {
		t := (*p).In(hcm)
		*p = &t
	}
	for i := range d.Steps {
		d.Steps[i].At = d.Steps[i].At.In(hcm)
	}
	if national.ContentHash(d) != h {
		t.Error("zone changed the hash")
	}

	// Hashing does not touch the dossier.
	d = dossier()
	national.ContentHash(d)
	if d.SourceVersion != 5 || d.SourceUpdated == nil || d.Steps[0].At.Location() != time.UTC {
		t.Error("ContentHash modified its argument")
	}

	// Nil and empty lists are the same content.
	a := &schemas.Dossier{ID: "X"}
	b := &schemas.Dossier{ID: "X", Fees: []schemas.Fee{}, Attachments: []schemas.Attachment{}, Steps: []schemas.Step{}}
	if national.ContentHash(a) != national.ContentHash(b) {
		t.Error("nil vs empty lists")
	}

	// Every real change shows.
	for name, f := range map[string]func(d *schemas.Dossier){
		"status":   func(d *schemas.Dossier) { d.Status = 9 },
		"fee paid": func(d *schemas.Dossier) { d.Fees[1].Paid = true },
		"new step": func(d *schemas.Dossier) { d.Steps = append(d.Steps, schemas.Step{At: time.Now(), Status: 10}) },
		"phone":    func(d *schemas.Dossier) { d.Applicant.Phone = "0912345678" },
		"due":      func(d *schemas.Dossier) { t := d.DueAt.Add(time.Second); d.DueAt = &t },
		"deleted":  func(d *schemas.Dossier) { d.Deleted = true },
	} {
		d := dossier()
		f(d)
		if national.ContentHash(d) == h {
			t.Errorf("%s: hash unchanged", name)
		}
	}
}
