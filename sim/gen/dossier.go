package gen

import (
	"math/rand/v2"
	"time"

	"github.com/lienthong/lienthong/sim/catalog"
)

// National dossier status codes (the hub's lingua franca).
const (
	StatusNew         = 1  // Mới đăng ký
	StatusReceived    = 2  // Được tiếp nhận
	StatusRefused     = 3  // Không được tiếp nhận
	StatusProcessing  = 4  // Đang xử lý
	StatusSupplement  = 5  // Yêu cầu bổ sung giấy tờ
	StatusFeeDue      = 6  // Yêu cầu thực hiện nghĩa vụ tài chính
	StatusWithdrawn   = 7  // Công dân yêu cầu rút hồ sơ
	StatusPaused      = 8  // Dừng xử lý
	StatusResolved    = 9  // Đã xử lý xong
	StatusReturned    = 10 // Đã trả kết quả
	stepDelete        = 0  // plan marker: the dossier was created in error and is deleted
	ChannelInPerson   = 1  // KENH: trực tiếp
	ChannelOnline     = 2  // KENH: trực tuyến
	ChannelPost       = 3  // KENH: qua bưu chính công ích
	ResultAtOffice    = 0
	ResultByPost      = 1
	ResultOnline      = 2
	PayAtOffice       = 1
	PayOnline         = 2
	PayCashOnDelivery = 3
	PartyCitizen      = 1
	PartyOrganisation = 2
)

// Agency is a receiving unit (cơ quan tiếp nhận).
type Agency struct {
	Ma  string `json:"ma"`
	Ten string `json:"ten"`
}

// Party is the dossier owner (chủ hồ sơ): a citizen or an organisation.
type Party struct {
	Kind     int       // PartyCitizen or PartyOrganisation
	Name     string    // full name with diacritics, or organisation name
	CCCD     string    // 12-digit citizen ID; empty for organisations
	TaxCode  string    // 10-digit tax code; empty for citizens
	Birth    time.Time // date of birth (citizens only)
	Female   bool
	Phone    string // as the applicant wrote it ("+84 912 345 678", "0983.456.789", …)
	Email    string // may be empty
	Province string // "14"
	District string // legacy district code ("119"); portals may omit it
	Commune  string // 5-digit commune code
	Address  string // free-text address line with diacritics
}

// Delivery is where a result sent by post goes.
type Delivery struct {
	Name, Phone, Province, Commune, Address string
}

// Fee is a fee or charge on the dossier.
type Fee struct {
	Code       string
	Name       string
	Kind       int // catalog.Phi or catalog.LePhi
	Amount     int64
	Paid       bool
	PayChannel int // PayAtOffice, PayOnline, PayCashOnDelivery
	Collect    int // national HinhThucThu: 1 at intake, 2 at supplement, 4 at result
}

// File is an attachment.
type File struct {
	ID        string
	Name      string
	Component string // TP1, TP2, …
	Size      int64
	SHA256    string // lowercase hex of the (fake) content
	URL       string
}

// Step is one processing-history entry.
type Step struct {
	Time       time.Time
	Status     int // national code
	Handler    string
	Title      string // chức danh
	Department string
	Content    string
}

// Dossier is the portal-neutral dossier from which every portal format is
// rendered. Times are in VN and whole seconds; zero times mean "no value".
type Dossier struct {
	MaHoSo  string
	Version int
	Updated time.Time
	Status  int
	Deleted bool

	Procedure catalog.Procedure
	Agency    Agency
	Channel   int // submission channel (national KENH)
	Owner     Party
	Summary   string // trích yếu
	Submitted time.Time
	Received  time.Time
	Due       time.Time
	Resolved  time.Time
	Returned  time.Time

	ResultChannel  int       // ResultAtOffice, ResultByPost, ResultOnline
	Delivery       *Delivery // set when ResultChannel is ResultByPost
	Fees           []Fee
	Files          []File
	History        []Step
	LegacyDistrict bool // whether portals that may show the old district code do

	plan []int      // remaining lifecycle (national codes, stepDelete)
	rng  *rand.Rand // the dossier's own stream, so background advancing is deterministic
	src  *rand.PCG  // rng's source when known (Generator.Generate), for State
}

// Level returns the Circular 32 service level (3 or 4).
func (d *Dossier) Level() int { return d.Procedure.MucDo.Int() }

// Level42 returns the Decree 42 vocabulary: TOAN_TRINH for level 4, else MOT_PHAN.
func (d *Dossier) Level42() string {
	if d.Level() >= 4 {
		return "TOAN_TRINH"
	}
	return "MOT_PHAN"
}

// Remaining is how many lifecycle changes are still planned.
func (d *Dossier) Remaining() int { return len(d.plan) }

// Plan returns a copy of the remaining lifecycle: national status codes, with
// 0 meaning "deleted as created in error".
func (d *Dossier) Plan() []int { return append([]int(nil), d.plan...) }

// Clone returns a deep copy (without the random stream) for inspection.
func (d *Dossier) Clone() *Dossier {
	c := *d
	c.Fees = append([]Fee(nil), d.Fees...)
	c.Files = append([]File(nil), d.Files...)
	c.History = append([]Step(nil), d.History...)
	c.plan = append([]int(nil), d.plan...)
	c.rng, c.src = nil, nil
	if d.Delivery != nil {
		dv := *d.Delivery
		c.Delivery = &dv
	}
	return &c
}
