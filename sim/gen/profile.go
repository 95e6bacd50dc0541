package gen

import "github.com/lienthong/lienthong/sim/catalog"

// Commune is a commune-level unit with a few hamlets or street groups.
type Commune struct {
	Code     string   // 5 digits
	Name     string   // "xã Chiềng Lề"
	District string   // legacy district code (3 digits)
	Places   []string // "Bản Bó", "Tổ 5", …
}

// Profile describes one province for the generator.
type Profile struct {
	Province   string // "14"
	CCCDPrefix string // "014": province of birth registration in CCCD numbers
	TaxPrefix  string // first two digits of local tax codes
	Families   []Weighted
	Agencies   []Agency
	Communes   []Commune
	FileBase   string  // attachment URL base
	FilePrefix string  // attachment id prefix ("f-")
	DeleteRate float64 // share of dossiers created in error and deleted (Hà Tĩnh feed)
	Catalog    []catalog.Procedure
}

func mergeFamilies(extra ...[]Weighted) []Weighted {
	out := append([]Weighted(nil), commonFamilies...)
	for _, e := range extra {
		out = append(out, e...)
	}
	return out
}

// SonLa returns the Sơn La profile (province 14).
func SonLa() Profile {
	return Profile{
		Province: "14", CCCDPrefix: "014", TaxPrefix: "55",
		Families: mergeFamilies(thaiFamilies, thaiFamilies), // Tai names make up a large share
		Agencies: []Agency{
			{"000.00.14.H52", "UBND huyện Thuận Châu"},
			{"000.00.15.H52", "UBND huyện Mai Sơn"},
			{"000.00.16.H52", "UBND thành phố Sơn La"},
		},
		Communes: []Commune{
			{"03646", "xã Chiềng Lề", "119", []string{"Bản Bó", "Bản Cọ", "Bản Hụm", "Bản Lề"}},
			{"03700", "xã Chiềng Pha", "119", []string{"Bản Pha", "Bản Nong Lay", "Bản Muông"}},
			{"03712", "thị trấn Thuận Châu", "119", []string{"Tiểu khu 1", "Tiểu khu 3", "Tiểu khu 12"}},
			{"03961", "thị trấn Hát Lót", "125", []string{"Tiểu khu 5", "Tiểu khu 9", "Tiểu khu 17"}},
			{"03979", "xã Chiềng Mung", "125", []string{"Bản Mung", "Bản Lả Mường", "Bản Tiến Xa"}},
			{"03664", "phường Quyết Thắng", "116", []string{"Tổ 2", "Tổ 5", "Tổ 8", "Số 18 đường Tô Hiệu"}},
			{"03655", "phường Chiềng Lề", "116", []string{"Tổ 1", "Tổ 4", "Số 51 đường Lò Văn Giá"}},
			{"04048", "phường Mộc Lỵ", "123", []string{"Tiểu khu 6", "Tiểu khu 14"}},
		},
		FileBase: "https://dichvucong.sonla.gov.vn/files", FilePrefix: "f-",
		Catalog: catalog.Default(),
	}
}

// ThaiNguyen returns the Thái Nguyên profile (province 19).
func ThaiNguyen() Profile {
	return Profile{
		Province: "19", CCCDPrefix: "019", TaxPrefix: "46",
		Families: mergeFamilies([]Weighted{{"Ma", 8}, {"Hà", 12}, {"Lương", 10}}),
		Agencies: []Agency{
			{"000.00.19.H55", "UBND thành phố Thái Nguyên"},
			{"000.00.20.H55", "UBND thành phố Sông Công"},
			{"000.00.21.H55", "UBND huyện Đại Từ"},
		},
		Communes: []Commune{
			{"05443", "phường Quang Trung", "164", []string{"Tổ 5", "Tổ 7", "Số 25 đường Bến Oánh"}},
			{"05431", "phường Hoàng Văn Thụ", "164", []string{"Tổ 3", "Tổ 11", "Số 102 đường Hoàng Văn Thụ"}},
			{"05467", "phường Phan Đình Phùng", "164", []string{"Tổ 2", "Tổ 9", "Số 8 đường Cách Mạng Tháng Tám"}},
			{"05500", "xã Phúc Hà", "164", []string{"Xóm Nước Hai", "Xóm Cây Thị"}},
			{"05830", "phường Mỏ Chè", "165", []string{"Tổ 4", "Tổ 6"}},
			{"05842", "xã Bá Xuyên", "165", []string{"Xóm Na Chặng", "Xóm Chùa"}},
			{"05716", "thị trấn Hùng Sơn", "173", []string{"Tổ dân phố Sơn Tập", "Tổ dân phố Dộc Lầy"}},
			{"05725", "xã La Bằng", "173", []string{"Xóm Đồng Tiến", "Xóm Lưu Quang", "Xóm Đèo Xá"}},
		},
		FileBase: "https://motcua.thainguyen.gov.vn/tepdinhkem", FilePrefix: "t-",
		Catalog: catalog.Default(),
	}
}

// HaTinh returns the Hà Tĩnh profile (province 42).
func HaTinh() Profile {
	return Profile{
		Province: "42", CCCDPrefix: "042", TaxPrefix: "30",
		Families: mergeFamilies([]Weighted{{"Thái", 10}, {"Võ", 25}, {"Nguyễn", 60}}),
		Agencies: []Agency{
			{"000.00.42.H25", "UBND phường Bắc Hồng"},
			{"000.00.43.H25", "UBND thành phố Hà Tĩnh"},
			{"000.00.44.H25", "UBND thị xã Hồng Lĩnh"},
		},
		Communes: []Commune{
			{"18412", "phường Bắc Hồng", "437", []string{"Khối 3", "Khối 5", "Khối 7"}},
			{"18418", "phường Trung Lương", "437", []string{"Khối 2", "Tổ dân phố Tiên Sơn"}},
			{"18073", "phường Nam Hà", "436", []string{"Tổ dân phố 4", "Số 16 đường Phan Đình Phùng"}},
			{"18082", "phường Trần Phú", "436", []string{"Tổ dân phố 2", "Số 75 đường Trần Phú"}},
			{"18100", "xã Thạch Hạ", "436", []string{"Thôn Trung Tiến", "Thôn Mỹ Triều"}},
			{"18364", "thị trấn Nghèn", "443", []string{"Tổ dân phố Đồng Huề", "Tổ dân phố Trung Nghĩa"}},
			{"18157", "thị trấn Đức Thọ", "440", []string{"Tổ dân phố 3", "Tổ dân phố Trung Tiến"}},
			{"18430", "xã Thuận Lộc", "437", []string{"Xóm Đông Thịnh", "Xóm Tây Thịnh"}},
		},
		FileBase: "https://dichvucong.hatinh.gov.vn/dvc/tep", FilePrefix: "h-",
		DeleteRate: 0.02,
		Catalog:    catalog.Default(),
	}
}

// LaiChau returns the Lai Châu profile (province 12): a second portal of
// the JSON REST kind in `hub dev`. Agency and commune codes are
// illustrative.
func LaiChau() Profile {
	return Profile{
		Province: "12", CCCDPrefix: "012", TaxPrefix: "62",
		Families: mergeFamilies(thaiFamilies, []Weighted{{"Giàng", 10}, {"Lý", 12}, {"Tẩn", 6}}),
		Agencies: []Agency{
			{"000.00.12.H33", "UBND thành phố Lai Châu"},
			{"000.00.13.H33", "UBND huyện Tam Đường"},
			{"000.00.14.H33", "UBND huyện Phong Thổ"},
		},
		Communes: []Commune{
			{"03388", "phường Tân Phong", "105", []string{"Tổ 3", "Tổ 12", "Số 9 đường Trần Phú"}},
			{"03390", "phường Đoàn Kết", "105", []string{"Tổ 1", "Tổ 7"}},
			{"03405", "xã San Thàng", "105", []string{"Bản San Thàng", "Bản Chu Va"}},
			{"03529", "thị trấn Tam Đường", "110", []string{"Tổ dân phố 1", "Tổ dân phố 5"}},
			{"03544", "xã Bình Lư", "110", []string{"Bản Hoa Vân", "Bản Nà Hiềng"}},
			{"03430", "thị trấn Phong Thổ", "106", []string{"Khu 2", "Khu 4"}},
		},
		FileBase: "https://dichvucong.laichau.gov.vn/files", FilePrefix: "lc-",
		Catalog: catalog.Default(),
	}
}

// NgheAn returns the Nghệ An profile (province 40): a second portal of the
// XML change feed kind in `hub dev`, served as UTF-8. Agency and commune
// codes are illustrative.
func NgheAn() Profile {
	return Profile{
		Province: "40", CCCDPrefix: "040", TaxPrefix: "29",
		Families: mergeFamilies([]Weighted{{"Hồ", 20}, {"Thái", 8}, {"Nguyễn", 60}}),
		Agencies: []Agency{
			{"000.00.40.H40", "UBND thành phố Vinh"},
			{"000.00.41.H40", "UBND thị xã Cửa Lò"},
			{"000.00.42.H40", "UBND huyện Nghi Lộc"},
		},
		Communes: []Commune{
			{"16681", "phường Hưng Dũng", "412", []string{"Khối 5", "Khối 9", "Số 12 đường Lê Viết Thuật"}},
			{"16690", "phường Lê Mao", "412", []string{"Khối 2", "Số 40 đường Lê Lợi"}},
			{"16699", "phường Quang Trung", "412", []string{"Khối 1", "Khối 4"}},
			{"17101", "phường Nghi Thủy", "413", []string{"Khối 3", "Khối Hải Giang"}},
			{"17137", "xã Nghi Phong", "428", []string{"Xóm 1", "Xóm Phong Hải"}},
			{"17188", "thị trấn Quán Hành", "428", []string{"Khối 4", "Khối 7"}},
		},
		FileBase: "https://dichvucong.nghean.gov.vn/dvc/tep", FilePrefix: "na-",
		DeleteRate: 0.02,
		Catalog:    catalog.Default(),
	}
}

// ForProvince returns the profile of province code: one of those above, or
// for any other code a generic one (Sơn La's names, communes and catalogue,
// the province's own code in agency codes and CCCD numbers), so a simulator
// of any province can run.
func ForProvince(code string) Profile {
	for _, p := range []func() Profile{SonLa, LaiChau, ThaiNguyen, HaTinh, NgheAn} {
		if prof := p(); prof.Province == code {
			return prof
		}
	}
	p := SonLa()
	p.Province, p.CCCDPrefix = code, "0"+code
	p.Agencies = []Agency{
		{"000.00." + code + ".H99", "UBND thành phố (tỉnh " + code + ")"},
		{"000.01." + code + ".H99", "UBND huyện (tỉnh " + code + ")"},
	}
	p.FileBase, p.FilePrefix = "https://dichvucong.tinh"+code+".example/files", "p"+code+"-"
	return p
}
