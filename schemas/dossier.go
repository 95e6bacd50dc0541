// Package schemas holds the messages that travel between the hub's stages:
// the raw record a connector pulled (one per source change) and the
// canonical dossier every source is normalised into.
package schemas

import (
	"time"
)

// Interface kinds of provincial portals (spec §1-§3). A source (a configured
// portal, named in its configuration) is an instance of one; its name keys
// cursors, topics, quarantine entries and metrics.
const (
	KindRESTJSON = "rest-json" // JSON REST, as at Sơn La
	KindSOAP     = "soap"      // SOAP 1.1, as at Thái Nguyên
	KindXMLFeed  = "xml-feed"  // XML change feed, as at Hà Tĩnh
)

// Kinds lists the interface kinds.
var Kinds = []string{KindRESTJSON, KindSOAP, KindXMLFeed}

// National status codes (spec: "National dossier status codes").
const (
	StatusNew            = 1
	StatusReceived       = 2
	StatusRefused        = 3
	StatusProcessing     = 4
	StatusSupplement     = 5
	StatusFeeDue         = 6
	StatusWithdrawn      = 7
	StatusPaused         = 8
	StatusResolved       = 9
	StatusReturned       = 10
	StatusMin, StatusMax = StatusNew, StatusReturned
)

// Applicant kinds, as the national LoaiDoiTuong.
const (
	ApplicantCitizen      = 1
	ApplicantOrganisation = 2
)

// Submission channels, as the national KENH.
const (
	ChannelInPerson = 1
	ChannelOnline   = 2
	ChannelPostal   = 3
)

// Result delivery, source-neutral. The national HinhThuc only knows office (0)
// and post (1); online delivery is kept here so nothing is lost.
const (
	DeliveryOffice = "office"
	DeliveryPost   = "post"
	DeliveryOnline = "online"
)

// Fee payment methods, source-neutral.
const (
	PayAtOffice = "office"
	PayOnline   = "online"
	PayCOD      = "cod" // cash collected by the postman on delivery
)

// Fee kinds, as the national LoaiPhiLePhi.
const (
	FeeCharge = 1 // phí
	FeeLevy   = 2 // lệ phí
)

// Dossier is the canonical form of one version of a dossier (hồ sơ). It
// carries every field of the three provincial formats and of the national
// HOSO/STEP, so that each target's form can be produced from it alone.
//
// Text is NFC. Times are instants with their zone (Asia/Ho_Chi_Minh as sent);
// a nil time means the source had no value.
type Dossier struct {
	ID string `json:"id"` // MaHoSo

	Source        string     `json:"source"`                  // the configured source's name
	SourceVersion int64      `json:"sourceVersion"`           // phienBan / PhienBan / feed SEQ
	SourceUpdated *time.Time `json:"sourceUpdated,omitempty"` // ngayCapNhat / ThoiDiemCapNhat; the feed has none
	Deleted       bool       `json:"deleted,omitempty"`       // Hà Tĩnh XOA: created in error, deleted at the source

	ProvinceCode string `json:"provinceCode"` // 14, 19, 42 (Decision 124/2004)

	Procedure Procedure `json:"procedure"`
	Agency    Agency    `json:"agency"`  // receiving agency (MaDonVi)
	Channel   int       `json:"channel"` // ChannelInPerson…

	Applicant Applicant `json:"applicant"`
	Summary   string    `json:"summary"` // TrichYeu

	SubmittedAt       *time.Time `json:"submittedAt,omitempty"`       // NgayNop
	ReceivedAt        *time.Time `json:"receivedAt,omitempty"`        // NgayTiepNhan
	DueAt             *time.Time `json:"dueAt,omitempty"`             // NgayHenTra
	ReturnedAt        *time.Time `json:"returnedAt,omitempty"`        // NgayTra / ngayTraKetQua
	ProcessingEndedAt *time.Time `json:"processingEndedAt,omitempty"` // national NgayKetThucXuLy

	Status       int    `json:"status"`       // national code 1–10
	SourceStatus string `json:"sourceStatus"` // the source's own value, e.g. DANG_XL

	ResultDelivery string     `json:"resultDelivery"`          // DeliveryOffice…
	ResultAddress  *Recipient `json:"resultAddress,omitempty"` // where the result goes by post

	Fees        []Fee        `json:"fees"`
	Attachments []Attachment `json:"attachments"`
	Steps       []Step       `json:"steps"` // processing history, oldest first

	ProcessingUnit string `json:"processingUnit,omitempty"` // national DonViXuLy
	Note           string `json:"note,omitempty"`           // national GhiChu
}

// Procedure is an administrative procedure of the national catalogue.
type Procedure struct {
	Code      string `json:"code"`                // MaTTHC, possibly with a local suffix
	Name      string `json:"name"`                // TenTTHC
	Level     int    `json:"level,omitempty"`     // Circular 32/2017 level 2–4, when the source says so
	Scope     string `json:"scope,omitempty"`     // Decree 42/2022: TOAN_TRINH | MOT_PHAN, when the source says so
	FieldCode string `json:"fieldCode,omitempty"` // MaLinhVuc
	FieldName string `json:"fieldName,omitempty"` // TenLinhVuc
}

// Decree 42/2022 scopes.
const (
	ScopeFull    = "TOAN_TRINH"
	ScopePartial = "MOT_PHAN"
)

// Agency is a unit coded per QCVN 102:2016/BTTTT.
type Agency struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

// Applicant is the dossier's owner (chủ hồ sơ / người nộp).
type Applicant struct {
	Kind      int     `json:"kind"`                // ApplicantCitizen | ApplicantOrganisation
	Name      string  `json:"name"`                // HoTen / organisation name
	IDType    string  `json:"idType,omitempty"`    // IDTypeCCCD, IDTypeCMND, IDTypeTax
	IDNumber  string  `json:"idNumber,omitempty"`  // CCCD, CMND or tax code, digits only
	BirthDate string  `json:"birthDate,omitempty"` // civil date YYYY-MM-DD
	Phone     string  `json:"phone,omitempty"`     // normalised 0xxxxxxxxx
	Email     string  `json:"email,omitempty"`
	AccountID string  `json:"accountId,omitempty"` // national MaDoiTuong
	Address   Address `json:"address"`
}

// Identity document types.
const (
	IDTypeCCCD = "CCCD"
	IDTypeCMND = "CMND"
	IDTypeTax  = "MST"
)

// Address is an administrative address. DistrictCode is only on records
// from before the 2025 reform.
type Address struct {
	ProvinceCode string `json:"provinceCode,omitempty"`
	DistrictCode string `json:"districtCode,omitempty"`
	CommuneCode  string `json:"communeCode,omitempty"`
	Detail       string `json:"detail,omitempty"`
}

// Recipient is who receives the result by post, and where.
type Recipient struct {
	Name    string  `json:"name,omitempty"`
	Phone   string  `json:"phone,omitempty"`
	Address Address `json:"address"`
}

// Fee is one charge (phí) or levy (lệ phí) of the dossier, in whole VND.
type Fee struct {
	Code          string `json:"code"`
	Name          string `json:"name"`
	Kind          int    `json:"kind"` // FeeCharge | FeeLevy
	Amount        int64  `json:"amount"`
	Paid          bool   `json:"paid"`
	PaymentMethod string `json:"paymentMethod,omitempty"` // PayAtOffice…
	// CollectStage is the national HinhThucThu: 1 at intake, 2 at
	// supplement, 4 at result. Sources do not send it; mapping derives it.
	CollectStage int `json:"collectStage,omitempty"`
}

// Attachment is a file submitted with the dossier.
type Attachment struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	ComponentCode string `json:"componentCode,omitempty"` // MaThanhPhanHoSo
	Size          int64  `json:"size,omitempty"`
	SHA256        string `json:"sha256,omitempty"`
	URL           string `json:"url,omitempty"`
	Deleted       bool   `json:"deleted,omitempty"`
}

// Step is one processing step (a national STEP).
type Step struct {
	At           time.Time  `json:"at"`     // ThoiDiemXuLy
	Status       int        `json:"status"` // national code after the step
	SourceStatus string     `json:"sourceStatus,omitempty"`
	Handler      string     `json:"handler,omitempty"`    // NguoiXuLy
	Title        string     `json:"title,omitempty"`      // ChucDanh
	Department   string     `json:"department,omitempty"` // PhongBanXuLy
	Content      string     `json:"content,omitempty"`    // NoiDungXuLy
	StartAt      *time.Time `json:"startAt,omitempty"`    // NgayBatDau
	DueAt        *time.Time `json:"dueAt,omitempty"`      // NgayKetThucTheoQuyDinh
}
