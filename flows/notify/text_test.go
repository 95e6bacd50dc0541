package notify

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/lienthong/lienthong/schemas"
)

func TestComposeFitsOneASCIISMS(t *testing.T) {
	due := time.Date(2026, 11, 26, 17, 0, 0, 0, schemas.Vietnam)
	d := &schemas.Dossier{
		ID:             "000.00.19.H55-261121-0007",
		Procedure:      schemas.Procedure{Name: "Cấp đổi Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác gắn liền với đất"},
		Applicant:      schemas.Applicant{Name: "Hoàng Văn Nam"},
		DueAt:          &due,
		ResultDelivery: schemas.DeliveryPost,
	}
	longURL := "https://thanhtoan.dichvucong.gov.vn/pay/" + strings.Repeat("x", 28)
	cases := []Notice{
		{Kind: Received, Dossier: d},
		{Kind: Supplement, Dossier: d},
		{Kind: FeeDue, Dossier: d, Amount: 1_250_000, PayURL: longURL},
		{Kind: FeeDue, Dossier: d, Amount: 8000},
		{Kind: ResultReady, Dossier: d},
		{Kind: Delivered, Dossier: d, ItemCode: "EB123456785VN"},
	}
	for _, n := range cases {
		txt := compose(n)
		if txt.sms == "" || len(txt.sms) > MaxSMS {
			t.Errorf("%s: SMS of %d characters: %q", n.Kind, len(txt.sms), txt.sms)
		}
		for _, r := range txt.sms {
			if r > unicode.MaxASCII {
				t.Errorf("%s: SMS has non-ASCII %q: %q", n.Kind, r, txt.sms)
			}
		}
		if !strings.Contains(txt.sms, d.ID) || !strings.Contains(txt.subject, d.ID) {
			t.Errorf("%s: SMS or subject does not name the dossier: %q / %q", n.Kind, txt.sms, txt.subject)
		}
		if n.PayURL != "" && (!strings.Contains(txt.sms, n.PayURL) || !strings.Contains(txt.body, n.PayURL)) {
			t.Errorf("%s: payment link missing: %q", n.Kind, txt.sms)
		}
	}
	if got := compose(cases[2]).sms; !strings.Contains(got, "1.250.000d") {
		t.Errorf("fee-due SMS %q does not state the amount", got)
	}
	if got := compose(cases[0]).sms; !strings.Contains(got, "26/11/2026") {
		t.Errorf("received SMS %q does not state the due date", got)
	}
}

func TestOccurrenceChangesOnlyOnReentry(t *testing.T) {
	d := &schemas.Dossier{Status: schemas.StatusSupplement, Steps: []schemas.Step{{Status: 2}, {Status: 4}, {Status: 5}}}
	first := Occurrence(d)
	d.SourceVersion++ // another version, same status
	if Occurrence(d) != first {
		t.Fatal("occurrence changed without a new step")
	}
	d.Steps = append(d.Steps, schemas.Step{Status: 4}, schemas.Step{Status: 5})
	if Occurrence(d) == first {
		t.Fatal("a second supplement request has the first one's occurrence")
	}
}
