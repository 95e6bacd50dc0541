package mapping_test

import (
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/schemas"
)

func TestText(t *testing.T) {
	if got := mapping.Text("  " + norm.NFD.String("Nguyễn Thị Hoa") + "\n"); got != "Nguyễn Thị Hoa" || !norm.NFC.IsNormalString(got) {
		t.Errorf("Text = %+q", got)
	}
}

func TestPhone(t *testing.T) {
	for in, want := range map[string]string{
		"0912345678":      "0912345678",
		"+84 912 345 678": "0912345678",
		"+84912345678":    "0912345678",
		"84912345678":     "0912345678",
		"0983.456.789":    "0983456789",
		"098-345-6789":    "0983456789",
		" 0359 123 456 ":  "0359123456",
		"0703123456":      "0703123456",
		"0812345678":      "0812345678",
		"":                "",
	} {
		if got, err := mapping.Phone(in); err != nil || got != want {
			t.Errorf("Phone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"0212345678", "091234567", "09123456789", "+1 912 345 678", "0612345678", "abc", "+84 0912345678", "0912 345 67x"} {
		if got, err := mapping.Phone(in); err == nil {
			t.Errorf("Phone(%q) = %q, want an error", in, got)
		}
	}
}

func TestCheckCCCD(t *testing.T) {
	for _, tc := range []struct {
		id, dob string
		ok      bool
	}{
		{"014095001234", "1995-03-02", true},
		{"019088004512", "1988-07-14", true},
		{"042196007781", "1996-08-15", true},  // 1 = 1900s, female
		{"001203004567", "2003-01-01", true},  // 2 = 2000s
		{"096305000001", "2005-12-31", true},  // 3 = 2000s, female
		{"079400000001", "2100-01-01", true},  // 4 = 2100s
		{"079500000001", "", true},            // no DOB: structure only
		{"014095001234", "", true},            // no DOB
		{"014295001234", "1995-03-02", false}, // 2000s digit, born 1995
		{"014096001234", "1995-03-02", false}, // year digits
		{"014695001234", "", false},           // century digit 6
		{"003095001234", "", false},           // 003 is no province
		{"097095001234", "", false},           // nor 097
		{"01409500123", "", false},            // 11 digits
		{"0140950012345", "", false},          // 13 digits
		{"01409500123a", "", false},
	} {
		if err := mapping.CheckCCCD(tc.id, tc.dob); (err == nil) != tc.ok {
			t.Errorf("CheckCCCD(%s, %s) = %v, want ok=%v", tc.id, tc.dob, err, tc.ok)
		}
	}
}

func TestTaxCode(t *testing.T) {
	for in, want := range map[string]string{"0101234567": "0101234567", "0101234567-001": "0101234567001", "0101234567001": "0101234567001"} {
		if got, err := mapping.TaxCode(in); err != nil || got != want {
			t.Errorf("TaxCode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"010123456", "01012345678", "0101234567-01", "0101234567/001", "MST0101234567"} {
		if _, err := mapping.TaxCode(in); err == nil {
			t.Errorf("TaxCode(%q) accepted", in)
		}
	}
}

func TestParseTime(t *testing.T) {
	hcm := schemas.Vietnam
	want := time.Date(2026, 11, 21, 8, 1, 13, 0, hcm)
	for _, in := range []string{"21/11/2026 08:01:13", "20261121080113", "2026-11-21T08:01:13+07:00", "2026-11-21T01:01:13Z", "2026-11-21T08:01:13"} {
		got, err := mapping.ParseTime(in)
		if err != nil || got == nil || !got.Equal(want) || got.Location() != hcm {
			t.Errorf("ParseTime(%q) = %v, %v; want %v in Asia/Ho_Chi_Minh", in, got, err, want)
		}
	}
	day := time.Date(2026, 11, 21, 0, 0, 0, 0, hcm)
	for _, in := range []string{"21/11/2026", "20261121"} {
		if got, err := mapping.ParseTime(in); err != nil || !got.Equal(day) {
			t.Errorf("ParseTime(%q) = %v, %v", in, got, err)
		}
	}
	if got, err := mapping.ParseTime("  "); got != nil || err != nil {
		t.Errorf("empty: %v %v", got, err)
	}
	for _, in := range []string{"21/11/26", "2026-11-21", "31/11/2026 08:00:00", "20261121 080113", "hôm qua", "21/11/2026 25:00:00", "1732150873"} {
		if got, err := mapping.ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseBirthDate(t *testing.T) {
	for in, want := range map[string]string{"1995-03-02": "1995-03-02", "02/03/1995": "1995-03-02", "19950302": "1995-03-02", "": ""} {
		if got, err := mapping.ParseBirthDate(in); err != nil || got != want {
			t.Errorf("ParseBirthDate(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"1995-02-30", "1995-3-2", "02/03/95", "1995", "19950230"} {
		if _, err := mapping.ParseBirthDate(in); err == nil {
			t.Errorf("ParseBirthDate(%q) accepted", in)
		}
	}
}

func TestIsProvinceCode(t *testing.T) {
	for _, c := range []string{"14", "19", "42", "014", "001", "096", "79"} {
		if !mapping.IsProvinceCode(c) {
			t.Errorf("%s rejected", c)
		}
	}
	for _, c := range []string{"03", "97", "", "4", "0014", "AB"} {
		if mapping.IsProvinceCode(c) {
			t.Errorf("%s accepted", c)
		}
	}
}
