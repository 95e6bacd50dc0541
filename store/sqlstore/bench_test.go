package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// benchDossiers is the number of distinct dossiers the benchmark cycles
// through: after the first pass every write is an update of an existing row.
const benchDossiers = 50_000

// canonicalFor returns a realistic canonical dossier (steps, fees,
// attachments: about 2.5 KB of JSON).
func canonicalFor(id string, version int64) []byte {
	at := time.Date(2025, 3, 1, 8, 30, 0, 0, time.FixedZone("ICT", 7*3600))
	due := at.Add(15 * 24 * time.Hour)
	d := schemas.Dossier{
		ID: id, Source: "sonla", SourceVersion: version, ProvinceCode: "14",
		Procedure: schemas.Procedure{Code: "1.001234.000.00.00.H14", Name: "Cấp giấy phép xây dựng đối với công trình cấp đặc biệt, cấp I, cấp II", Level: 4, FieldCode: "XD", FieldName: "Xây dựng"},
		Agency:    schemas.Agency{Code: "000.00.14.H01", Name: "Sở Xây dựng tỉnh Sơn La"},
		Channel:   schemas.ChannelOnline,
		Applicant: schemas.Applicant{Kind: schemas.ApplicantCitizen, Name: "Nguyễn Văn An", IDType: schemas.IDTypeCCCD, IDNumber: "014099001234",
			BirthDate: "1990-05-17", Phone: "0912345678", Email: "an.nguyen@example.vn",
			Address: schemas.Address{ProvinceCode: "14", CommuneCode: "04000", Detail: "Số 12, đường Tô Hiệu, tổ 3"}},
		Summary:     "Đề nghị cấp giấy phép xây dựng nhà ở riêng lẻ tại tổ 3, phường Chiềng Lề",
		SubmittedAt: &at, ReceivedAt: &at, DueAt: &due,
		Status: schemas.StatusProcessing, SourceStatus: "DANG_XL", ResultDelivery: schemas.DeliveryPost,
		Fees: []schemas.Fee{
			{Code: "LP01", Name: "Lệ phí cấp giấy phép xây dựng", Kind: schemas.FeeLevy, Amount: 75000, Paid: true, PaymentMethod: schemas.PayOnline},
			{Code: "PH02", Name: "Phí thẩm định", Kind: schemas.FeeCharge, Amount: 500000, PaymentMethod: schemas.PayAtOffice},
		},
		Attachments: []schemas.Attachment{
			{ID: "a1", Name: "Đơn đề nghị.pdf", ComponentCode: "TP01", Size: 183422, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
			{ID: "a2", Name: "Bản vẽ thiết kế.pdf", ComponentCode: "TP02", Size: 2483422, SHA256: "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"},
		},
	}
	for i := range int(version%5) + 2 {
		d.Steps = append(d.Steps, schemas.Step{At: at.Add(time.Duration(i) * time.Hour), Status: schemas.StatusProcessing,
			Handler: "Trần Thị Bình", Title: "Chuyên viên", Department: "Phòng Quản lý xây dựng",
			Content: fmt.Sprintf("Thẩm định hồ sơ, bước %d", i+1)})
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkPutLedger measures ledger upserts on each engine, one op being
// one dossier update, written in batches as the hub's normaliser does. The
// updates/s metric is the figure to compare with the 20,000/s target.
func BenchmarkPutLedger(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) { benchPutLedger(b, e.fresh(b)) })
	}
}

func benchPutLedger(b *testing.B, db database) {
	ctx := context.Background()
	s, err := db.open(ctx, store.WithEncryptionKey([]byte("benchmark encryption key 32 byte")))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Pre-encode the documents: the benchmark is of the store, not JSON.
	canon := make([][]byte, 64)
	hashes := make([]string, len(canon))
	for i := range canon {
		canon[i] = canonicalFor(fmt.Sprintf("H14.01-250301-%06d", i), int64(i))
		sum := sha256.Sum256(canon[i])
		hashes[i] = hex.EncodeToString(sum[:])
	}
	mk := func(n int64) store.LedgerEntry {
		k := n % int64(len(canon))
		return store.LedgerEntry{
			DossierID: fmt.Sprintf("H14.01-250301-%06d", n%benchDossiers), Source: "sonla", Province: "14",
			Procedure: "1.001234", Agency: "000.00.14.H01", Version: n, ContentHash: hashes[k], Status: schemas.StatusProcessing,
			Canonical: canon[k], NationalState: store.NationalHeld, NationalVersion: n - 1, NationalSteps: 3, NationalAt: time.Now(),
		}
	}
	// Fill the table first so the measured writes are updates.
	for n := int64(0); n < benchDossiers; n += 1000 {
		es := make([]store.LedgerEntry, 1000)
		for i := range es {
			es[i] = mk(n + int64(i))
		}
		if err := s.PutLedger(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("canonical dossier: %d bytes", len(canon[0]))

	for _, batch := range []int{100, 500, 1000} {
		for _, writers := range []int{1, 4} {
			b.Run(fmt.Sprintf("batch=%d/writers=%d", batch, writers), func(b *testing.B) {
				inBatches(b, batch, writers, "updates/s", func(lo, hi int64) error {
					es := make([]store.LedgerEntry, 0, hi-lo)
					for n := lo; n < hi; n++ {
						es = append(es, mk(n))
					}
					return s.PutLedger(ctx, es)
				})
			})
		}
	}
}

// inBatches has writers goroutines write b.N items in batches of batch
// (write writes items lo to hi-1), and reports items per second as unit.
func inBatches(b *testing.B, batch, writers int, unit string, write func(lo, hi int64) error) {
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				hi := next.Add(int64(batch))
				lo := hi - int64(batch)
				if lo >= int64(b.N) {
					return
				}
				if err := write(lo, min(hi, int64(b.N))); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), unit)
}
