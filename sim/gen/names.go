package gen

// Weighted is a value with a relative weight.
type Weighted struct {
	V string
	W int
}

// commonFamilies follows the rough national distribution of family names.
var commonFamilies = []Weighted{
	{"Nguyễn", 380}, {"Trần", 110}, {"Lê", 95}, {"Phạm", 70}, {"Hoàng", 51},
	{"Phan", 45}, {"Vũ", 39}, {"Đặng", 21}, {"Bùi", 20}, {"Đỗ", 14},
	{"Hồ", 13}, {"Ngô", 13}, {"Dương", 10},
}

// thaiFamilies are Tai (Thái) family names common in Sơn La.
var thaiFamilies = []Weighted{
	{"Lò", 90}, {"Quàng", 60}, {"Cầm", 50}, {"Lường", 45}, {"Tòng", 40}, {"Điêu", 25},
}

var (
	maleMiddle   = []Weighted{{"Văn", 50}, {"Đức", 15}, {"Minh", 15}, {"Quang", 8}, {"Hữu", 7}, {"Công", 5}}
	femaleMiddle = []Weighted{{"Thị", 55}, {"Thu", 12}, {"Ngọc", 12}, {"Minh", 6}, {"Thanh", 8}, {"Thùy", 7}}
	maleGiven    = []string{
		"Minh", "Nam", "Hùng", "Dũng", "Tuấn", "Hải", "Long", "Sơn", "Thắng", "Cường",
		"Hiếu", "Đạt", "Phúc", "Khánh", "Quân", "Huy", "Tâm", "Trung", "Tiến", "Bình",
		"Vượng", "Thành", "Lợi", "Toàn", "Kiên", "Đông", "Hưng", "Lâm",
	}
	femaleGiven = []string{
		"Lan", "Hoa", "Hà", "Hương", "Mai", "Linh", "Trang", "Thảo", "Huyền", "Phương",
		"Yến", "Nhung", "Hằng", "Thủy", "Ánh", "Vân", "Oanh", "Nguyệt", "Duyên", "Liên",
		"Hạnh", "Loan", "Giang", "Quỳnh",
	}
)

// Organisation name parts.
var (
	orgForms = []Weighted{
		{"Công ty TNHH", 45}, {"Công ty cổ phần", 25}, {"Hợp tác xã", 20}, {"Doanh nghiệp tư nhân", 10},
	}
	orgTrades = []string{
		"Thương mại", "Xây dựng", "Nông nghiệp", "Dịch vụ", "Thương mại và Dịch vụ",
		"Chế biến nông sản", "Vận tải", "Chè", "Thực phẩm", "Đầu tư và Phát triển",
	}
	orgMarks = []string{
		"Hoàng Long", "Minh Phát", "Thành Công", "An Bình", "Phú Thịnh", "Tân Tiến",
		"Hưng Thịnh", "Đại Phát", "Sông Đà", "Trường An", "Hồng Hà", "Việt Tiến",
	}
)

// Supplement, refusal and pause reasons for history texts.
var (
	supplementReasons = []string{
		"thiếu bản sao giấy tờ tùy thân",
		"tờ khai chưa ghi đầy đủ thông tin",
		"thiếu bản vẽ hiện trạng",
		"giấy tờ chứng minh nơi cư trú chưa hợp lệ",
		"chữ ký trên tờ khai không khớp",
	}
	refusalReasons = []string{
		"hồ sơ không thuộc thẩm quyền giải quyết",
		"người nộp không đủ điều kiện thực hiện thủ tục",
		"hồ sơ trùng với hồ sơ đã nộp trước đó",
	}
	pauseReasons = []string{
		"chờ xác minh thông tin tại địa phương",
		"chờ ý kiến của cơ quan có liên quan",
		"chờ kết quả đo đạc thực địa",
	}
	emailDomains = []Weighted{{"gmail.com", 70}, {"yahoo.com", 8}, {"example.vn", 12}, {"outlook.com", 10}}
	// Mobile prefixes after the leading 0 (Viettel, VinaPhone, MobiFone, Vietnamobile, Gmobile).
	mobilePrefixes = []string{
		"86", "96", "97", "98", "32", "33", "34", "35", "36", "37", "38", "39",
		"91", "94", "88", "81", "82", "83", "84", "85",
		"90", "93", "89", "70", "76", "77", "78", "79",
		"92", "56", "58", "99", "59",
	}
)
