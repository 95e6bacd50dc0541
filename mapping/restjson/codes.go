package restjson

import "github.com/lienthong/lienthong/schemas"

// Code tables of the Sơn La REST API (spec §1).

// Statuses is the kind's status table (source value → national code); a
// source's status_map overrides entries of it. Read only.
var Statuses = map[string]int{
	"MOI":            schemas.StatusNew,
	"DA_TIEP_NHAN":   schemas.StatusReceived,
	"TU_CHOI":        schemas.StatusRefused,
	"DANG_XU_LY":     schemas.StatusProcessing,
	"CHO_BO_SUNG":    schemas.StatusSupplement,
	"CHO_THANH_TOAN": schemas.StatusFeeDue,
	"RUT_HO_SO":      schemas.StatusWithdrawn,
	"TAM_DUNG":       schemas.StatusPaused,
	"DA_XU_LY_XONG":  schemas.StatusResolved,
	"DA_TRA_KET_QUA": schemas.StatusReturned,
}

var applicantKinds = map[string]int{
	"CONG_DAN": schemas.ApplicantCitizen,
	"TO_CHUC":  schemas.ApplicantOrganisation,
}

var channels = map[string]int{
	"TRUC_TIEP":  schemas.ChannelInPerson,
	"TRUC_TUYEN": schemas.ChannelOnline,
	"BUU_CHINH":  schemas.ChannelPostal,
}

var deliveries = map[string]string{
	"TRUC_TIEP":  schemas.DeliveryOffice,
	"BUU_CHINH":  schemas.DeliveryPost,
	"TRUC_TUYEN": schemas.DeliveryOnline,
}

var feeKinds = map[string]int{
	"PHI":    schemas.FeeCharge,
	"LE_PHI": schemas.FeeLevy,
}

var payments = map[string]string{
	"TRUC_TIEP":  schemas.PayAtOffice,
	"TRUC_TUYEN": schemas.PayOnline,
	"BUU_CHINH":  schemas.PayCOD,
}
