package reconcile

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/lienthong/lienthong/connectors/national"
)

func TestDifferences(t *testing.T) {
	want := national.HoSo{MaHoSo: "H1", ChuHoSo: "Nguyễn Văn An", TrangThaiHoSo: 4, HinhThuc: 0,
		TaiLieuNop:    []national.TaiLieu{{TepDinhKemId: "t1"}, {TepDinhKemId: "t2", IsDeleted: true}},
		DanhSachLePhi: []national.LePhi{{MaPhiLePhi: "LP1", Gia: 50000, DaThanhToan: "1"}}}
	same, _ := json.Marshal(want)
	for _, tc := range []struct {
		name string
		got  string
		want []string
	}{
		{"identical", string(same), nil},
		{"written differently", `{"MaHoSo":"H1","ChuHoSo":"Nguye\u0302\u0303n Va\u0306n An","TrangThaiHoSo":"4",
			"TaiLieuNop":[{"TepDinhKemId":"t2","IsDeleted":"1"},{"TepDinhKemId":"t1","IsDeleted":false}],
			"DanhSachLePhi":[{"MaPhiLePhi":"LP1","Gia":"50000.0","DaThanhToan":"1"}],"Extra":"x"}`, nil},
		{"status and name", `{"MaHoSo":"H1","ChuHoSo":"Nguyễn Văn Ân","TrangThaiHoSo":2,
			"TaiLieuNop":[{"TepDinhKemId":"t1"},{"TepDinhKemId":"t2","IsDeleted":true}],
			"DanhSachLePhi":[{"MaPhiLePhi":"LP1","Gia":50000,"DaThanhToan":"1"}]}`, []string{"ChuHoSo", "TrangThaiHoSo"}},
		{"a file lost, a fee unpaid", `{"MaHoSo":"H1","ChuHoSo":"Nguyễn Văn An","TrangThaiHoSo":4,
			"TaiLieuNop":[{"TepDinhKemId":"t1"}],
			"DanhSachLePhi":[{"MaPhiLePhi":"LP1","Gia":50000,"DaThanhToan":"0"}]}`, []string{"DanhSachLePhi", "TaiLieuNop"}},
		{"a list as a scalar", `{"MaHoSo":"H1","ChuHoSo":"Nguyễn Văn An","TrangThaiHoSo":4,"TaiLieuNop":"t1",
			"DanhSachLePhi":[{"MaPhiLePhi":"LP1","Gia":50000,"DaThanhToan":"1"}]}`, []string{"TaiLieuNop"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Differences(want, json.RawMessage(tc.got))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Differences = %v, want %v", got, tc.want)
			}
		})
	}
	if _, err := Differences(want, json.RawMessage(`[1]`)); err == nil {
		t.Error("a HOSO that is not an object: no error")
	}
}

func TestRandomBelow(t *testing.T) {
	for range 1000 {
		hi := "H14.2612-000123"
		if r := randomBelow(hi); r > hi || r == "" {
			t.Fatalf("randomBelow(%q) = %q", hi, r)
		}
	}
}
