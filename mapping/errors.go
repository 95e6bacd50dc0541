package mapping

import "github.com/lienthong/lienthong/mapping/internal/fields"

// FieldError says which field of which dossier a source sent wrongly, e.g.
//
//	sonla: dossier 000.00.14.H52-261121-0001: field chuHoSo.ngaySinh: not a date (want YYYY-MM-DD)
//
// Every mapping failure is one (errors.As works). The message never carries
// a value that can be personal data; Field is a path in the source's own
// vocabulary (chuHoSo.soDinhDanh, NguoiNop/SoGiayTo, CHUHOSO/CCCD,
// lePhi[0].soTien). Field is empty when the payload as a whole is unreadable.
//
// It is an alias so that the per-source mappers, which mapping imports, can
// return it too.
type FieldError = fields.FieldError
