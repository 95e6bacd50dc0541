package soap

import "github.com/lienthong/lienthong/schemas"

// Code tables of the Thái Nguyên SOAP service (spec §2).

// Legacy TrangThai codes → national ones.
// Statuses is the kind's status table (source value → national code); a
// source's status_map overrides entries of it. Read only.
var Statuses = map[string]int{
	"TN_OL":    schemas.StatusNew,
	"DA_TN":    schemas.StatusReceived,
	"KHONG_TN": schemas.StatusRefused,
	"DANG_XL":  schemas.StatusProcessing,
	"CBS":      schemas.StatusSupplement,
	"CNVTC":    schemas.StatusFeeDue,
	"RUT":      schemas.StatusWithdrawn,
	"TAM_DUNG": schemas.StatusPaused,
	"DA_XL":    schemas.StatusResolved,
	"DA_TRAKQ": schemas.StatusReturned,
}

var applicantKinds = map[string]int{
	"1": schemas.ApplicantCitizen,
	"2": schemas.ApplicantOrganisation,
}

// channels: KenhNop already uses the national KENH values.
var channels = map[string]int{
	"1": schemas.ChannelInPerson,
	"2": schemas.ChannelOnline,
	"3": schemas.ChannelPostal,
}

var idTypes = map[string]string{
	"CCCD": schemas.IDTypeCCCD,
	"CMND": schemas.IDTypeCMND,
	"MST":  schemas.IDTypeTax,
}

var feeKinds = map[string]int{
	"1": schemas.FeeCharge,
	"2": schemas.FeeLevy,
}

var payments = map[string]string{
	"1": schemas.PayAtOffice,
	"2": schemas.PayOnline,
	"3": schemas.PayCOD,
}
