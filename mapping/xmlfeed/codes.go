package xmlfeed

import "github.com/lienthong/lienthong/schemas"

// Code tables of the Hà Tĩnh change feed (spec §3).

// TRANGTHAI (and XULY/@TRANGTHAI) is already the national code.
// Statuses is the kind's status table (source value → national code); a
// source's status_map overrides entries of it. Read only.
var Statuses = map[string]int{
	"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9, "10": 10,
}

var applicantKinds = map[string]int{
	"1": schemas.ApplicantCitizen,
	"2": schemas.ApplicantOrganisation,
}

// channels: KENH is the national value.
var channels = map[string]int{
	"1": schemas.ChannelInPerson,
	"2": schemas.ChannelOnline,
	"3": schemas.ChannelPostal,
}

var deliveries = map[string]string{
	"0": schemas.DeliveryOffice,
	"1": schemas.DeliveryPost,
	"2": schemas.DeliveryOnline,
}

var feeKinds = map[string]int{
	"1": schemas.FeeCharge,
	"2": schemas.FeeLevy,
}

// payments: the spec leaves LEPHI/@HINHTHUC undefined; it is read like
// Thái Nguyên's HinhThucNop (1 office, 2 online, 3 cash on postal delivery).
var payments = map[string]string{
	"1": schemas.PayAtOffice,
	"2": schemas.PayOnline,
	"3": schemas.PayCOD,
}

// operations: HOSO/@THAO_TAC, true when the entry deletes the dossier.
var operations = map[string]bool{
	"CAPNHAT": false,
	"XOA":     true,
}
