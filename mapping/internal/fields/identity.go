package fields

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/lienthong/lienthong/schemas"
)

// provinceCodes are the 63 province codes of Decision 124/2004/QĐ-TTg, in
// their 3-digit form as CCCD numbers carry them (kept by Decision 19/2025).
var provinceCodes = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`001 002 004 006 008 010 011 012 014 015 017 019 020 022
		024 025 026 027 030 031 033 034 035 036 037 038 040 042 044 045 046 048 049 051 052 054
		056 058 060 062 064 066 067 068 070 072 074 075 077 079 080 082 083 084 086 087 089 091
		092 093 094 095 096`) {
		provinceCodes[c] = true
	}
}

// IsProvinceCode tells whether code is a province code of Decision 124/2004,
// either in its 2-digit address form ("14") or 3-digit CCCD form ("014").
func IsProvinceCode(code string) bool {
	if len(code) == 2 {
		code = "0" + code
	}
	return len(code) == 3 && provinceCodes[code]
}

var phoneRE = regexp.MustCompile(`^(?:0|\+84|84)([35789]\d{8})$`)

// Phone normalises a Vietnamese mobile number to 0xxxxxxxxx. Sources write
// them with spaces, dots or dashes and with or without +84. Empty is no
// value.
func Phone(s string) (string, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '.', '-', '\u00a0':
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if s == "" {
		return "", nil
	}
	m := phoneRE.FindStringSubmatch(s)
	if m == nil {
		return "", errors.New("not a Vietnamese mobile number")
	}
	return "0" + m[1], nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CheckCCCD checks a 12-digit citizen ID: digits 1–3 the province of birth
// registration, digit 4 century and sex (0/1 1900s, 2/3 2000s, 4/5 2100s),
// digits 5–6 the last two digits of the birth year. birthDate (YYYY-MM-DD)
// is checked against digits 4–6 when not empty.
func CheckCCCD(id, birthDate string) error {
	if len(id) != 12 || !allDigits(id) {
		return errors.New("not a 12-digit CCCD")
	}
	if !provinceCodes[id[:3]] {
		return errors.New("CCCD does not start with a province code")
	}
	cs := id[3] - '0'
	if cs > 5 {
		return errors.New("CCCD century/sex digit is not 0–5")
	}
	if birthDate == "" {
		return nil
	}
	year, err := strconv.Atoi(birthDate[:min(4, len(birthDate))])
	if err != nil || len(birthDate) < 4 {
		return errors.New("date of birth unusable for the CCCD check")
	}
	if year/100 != 19+int(cs/2) {
		return errors.New("CCCD century digit does not match the date of birth")
	}
	if yy, _ := strconv.Atoi(id[4:6]); yy != year%100 {
		return errors.New("CCCD year digits do not match the date of birth")
	}
	return nil
}

var taxRE = regexp.MustCompile(`^(\d{10})(?:-?(\d{3}))?$`)

// TaxCode checks an organisation's tax code (mã số thuế): 10 digits, or a
// branch code written 10-3 or as 13 digits. It returns the digits only.
func TaxCode(s string) (string, error) {
	m := taxRE.FindStringSubmatch(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if m == nil {
		return "", errors.New("not a tax code (10 digits, or 10-3 / 13 digits)")
	}
	return m[1] + m[2], nil
}

// Identity validates an applicant's identity number and says what it is.
// declared is the type the source states (schemas.IDTypeCCCD, IDTypeCMND,
// IDTypeTax) or "" when the source only implies it by the applicant kind: a
// citizen's 12 digits are a CCCD and 9 an old CMND, an organisation's number
// is a tax code. birthDate is YYYY-MM-DD or "". An empty number is no value.
func Identity(kind int, declared, number, birthDate string) (idType, id string, err error) {
	number = strings.ReplaceAll(strings.TrimSpace(number), " ", "")
	if number == "" {
		return "", "", nil
	}
	if kind == schemas.ApplicantOrganisation {
		if declared != "" && declared != schemas.IDTypeTax {
			return "", "", errors.New("an organisation is identified by a tax code")
		}
		id, err := TaxCode(number)
		if err != nil {
			return "", "", err
		}
		return schemas.IDTypeTax, id, nil
	}
	switch declared {
	case schemas.IDTypeTax:
		return "", "", errors.New("a citizen is identified by a CCCD or CMND")
	case schemas.IDTypeCMND:
		if len(number) != 9 || !allDigits(number) {
			return "", "", errors.New("not a 9-digit CMND")
		}
		return schemas.IDTypeCMND, number, nil
	case schemas.IDTypeCCCD:
	case "":
		if len(number) == 9 && allDigits(number) {
			return schemas.IDTypeCMND, number, nil
		}
	default:
		return "", "", errors.New("unknown identity document type")
	}
	if err := CheckCCCD(number, birthDate); err != nil {
		return "", "", err
	}
	return schemas.IDTypeCCCD, number, nil
}
