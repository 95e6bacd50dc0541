// Package catalog is the procedure catalogue (danh mục thủ tục hành chính)
// shared by the data generator and the national portal simulator.
//
// The codes and names are illustrative, in the shape of the national database
// of administrative procedures. The JSON form is the result item of the
// national portal's LayDanhSachTTHC service.
package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Fee kinds, as in the national LoaiPhiLePhi.
const (
	Phi    = 1 // phí (service charge)
	LePhi  = 2 // lệ phí (state fee)
	maxFee = 1_000_000_000
)

// Fee is one fee or charge attached to a procedure.
type Fee struct {
	MaPhiLePhi string `json:"MaPhiLePhi"`
	SoTien     int64  `json:"SoTien"`
	MoTa       string `json:"MoTa"`
	// Loai is Phi or LePhi. The national result shape carries no kind, so it is
	// Go-only data used by the generator.
	Loai int `json:"-"`
}

// Level is a service level: "2", "3", "4" (Circular 32/2017) or "TOAN_TRINH" /
// "MOT_PHAN" (Decree 42/2022). It marshals numeric levels as JSON numbers and
// the others as strings, and accepts both forms.
type Level string

// MarshalJSON writes numeric levels as numbers.
func (l Level) MarshalJSON() ([]byte, error) {
	if _, err := strconv.Atoi(string(l)); err == nil {
		return []byte(l), nil
	}
	return json.Marshal(string(l))
}

// UnmarshalJSON accepts a number or a string.
func (l *Level) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = Level(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("catalog: MucDo must be a number or a string: %w", err)
	}
	*l = Level(n.String())
	return nil
}

// Int returns the numeric level (3 for MOT_PHAN, 4 for TOAN_TRINH).
func (l Level) Int() int {
	switch l {
	case "TOAN_TRINH":
		return 4
	case "MOT_PHAN":
		return 3
	}
	n, _ := strconv.Atoi(string(l))
	return n
}

// Procedure is one administrative procedure (thủ tục hành chính).
type Procedure struct {
	MaTTHC     string `json:"MaTTHC"`
	TenTTHC    string `json:"TenTTHC"`
	MaLinhVuc  string `json:"MaLinhVuc"`
	TenLinhVuc string `json:"TenLinhVuc"`
	MucDo      Level  `json:"MucDo"`
	PhiLePhi   []Fee  `json:"PhiLePhi"`

	// Generator hints; not part of the national shape.
	SoNgayXuLy int      `json:"-"` // statutory processing time in working days
	PhongBan   string   `json:"-"` // specialist department that processes it
	ToChuc     float64  `json:"-"` // share of applicants that are organisations
	ThanhPhan  []string `json:"-"` // file names of the dossier components TP1, TP2, …
	TrichYeu   []string `json:"-"` // typical dossier summaries
	KetQua     string   `json:"-"` // what the result is, for history texts
	// ShapeOnly keeps the generator from drawing the procedure at random: it
	// is chosen only when a dossier shape asks for what it offers (gen.Shape),
	// so that adding it left every seed's existing output unchanged.
	ShapeOnly bool `json:"-"`
}

// Base returns the national part of a procedure code: its first two
// dot-separated parts ("2.000815" for "2.000815.000.00.00.H55").
func Base(code string) string {
	code = strings.TrimSpace(code)
	parts := strings.SplitN(code, ".", 3)
	if len(parts) < 2 {
		return code
	}
	return parts[0] + "." + parts[1]
}

// Index looks procedures up by code, accepting codes with a local suffix.
type Index map[string]*Procedure

// NewIndex indexes procs by their base code.
func NewIndex(procs []Procedure) Index {
	ix := make(Index, len(procs))
	for i := range procs {
		ix[Base(procs[i].MaTTHC)] = &procs[i]
	}
	return ix
}

// Lookup finds the procedure for code (a bare or suffixed MaTTHC).
func (ix Index) Lookup(code string) (*Procedure, bool) {
	p, ok := ix[Base(code)]
	return p, ok
}

// Default returns a fresh copy of the built-in catalogue; callers may modify it.
func Default() []Procedure {
	out := make([]Procedure, len(builtin))
	for i, p := range builtin {
		p.PhiLePhi = append([]Fee{}, p.PhiLePhi...)
		p.ThanhPhan = append([]string(nil), p.ThanhPhan...)
		p.TrichYeu = append([]string(nil), p.TrichYeu...)
		out[i] = p
	}
	return out
}

// JSON returns the catalogue in the LayDanhSachTTHC result shape.
func JSON(procs []Procedure) []byte {
	out := make([]Procedure, len(procs))
	for i, p := range procs {
		if p.PhiLePhi == nil {
			p.PhiLePhi = []Fee{} // "PhiLePhi":[] rather than null
		}
		out[i] = p
	}
	b, err := json.Marshal(out)
	if err != nil { // cannot happen: only strings and numbers
		panic(err)
	}
	return b
}

// Parse reads a JSON array of catalogue entries (the PUT /_sim/catalog body)
// and checks that every entry has a code and a name.
func Parse(b []byte) ([]Procedure, error) {
	var procs []Procedure
	if err := json.Unmarshal(b, &procs); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	for i, p := range procs {
		if strings.TrimSpace(p.MaTTHC) == "" || strings.TrimSpace(p.TenTTHC) == "" {
			return nil, fmt.Errorf("catalog: entry %d: MaTTHC and TenTTHC are required", i)
		}
		if p.PhiLePhi == nil {
			procs[i].PhiLePhi = []Fee{}
		}
		for _, f := range p.PhiLePhi {
			if f.SoTien < 0 || f.SoTien > maxFee {
				return nil, fmt.Errorf("catalog: entry %d: fee %q out of range", i, f.MaPhiLePhi)
			}
		}
	}
	return procs, nil
}
