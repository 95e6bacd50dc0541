// Package export writes the operators' exports: CSV that spreadsheets open
// as they are, for the API's list endpoints (the quarantine, the audit log),
// the on-time report and the command line.
//
// The CSV is UTF-8 with a byte-order mark, so that Excel reads Vietnamese
// text as UTF-8 rather than in the machine's code page, with CRLF line
// ends (RFC 4180). A cell that starts with =, +, -, @, a tab or a carriage
// return is written with a leading apostrophe, so that a spreadsheet shows
// it as text instead of running it as a formula (CSV injection): a reason
// or a detail comes from outside and is not trusted. Times are RFC 3339 in
// Vietnam's zone (schemas.Vietnam), as an operator reads them.
package export

import (
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// BOM is UTF-8's byte-order mark, which starts every CSV written here.
const BOM = "\xEF\xBB\xBF"

// ContentType is the CSV answers' media type.
const ContentType = "text/csv; charset=utf-8"

// MaxRows is the most rows one CSV export of the API answers (its limit
// parameter's maximum, and its default): a list endpoint pages by 1000 in
// JSON, but an export is meant to be opened whole.
const MaxRows = 100_000

// Cell is s as written in a CSV cell: with a leading apostrophe when a
// spreadsheet would take it for a formula.
func Cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Time is t as written in a CSV cell: RFC 3339 in Vietnam's zone, or empty
// for the zero time.
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(schemas.Vietnam).Format(time.RFC3339)
}

// Int is n as written in a CSV cell.
func Int[N ~int | ~int64](n N) string { return strconv.FormatInt(int64(n), 10) }

// Encode writes the BOM, header and rows to w as CSV, every cell through
// Cell.
func Encode(w io.Writer, header []string, rows [][]string) error {
	if _, err := io.WriteString(w, BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	record := make([]string, 0, len(header))
	for _, row := range append([][]string{header}, rows...) {
		record = record[:0]
		for _, c := range row {
			record = append(record, Cell(c))
		}
		if err := cw.Write(record); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteCSV answers header and rows as a CSV attachment named filename
// (ASCII, e.g. quarantine.csv), HTTP 200, not to be cached (exports may
// hold personal data). The error is the connection's: the status is
// already sent.
func WriteCSV(w http.ResponseWriter, filename string, header []string, rows [][]string) error {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return Encode(w, header, rows)
}

// WantsCSV reports whether r asks for CSV: its format query parameter is
// csv, or, without one, its Accept header lists text/csv with a quality at
// least that of application/json. A format other than csv or json, or
// given twice, is an error wrapping store.ErrInvalid. The caller takes
// format out of the parameters it checks.
func WantsCSV(r *http.Request) (bool, error) {
	switch vs := r.URL.Query()["format"]; {
	case len(vs) > 1:
		return false, fmt.Errorf("query parameter \"format\" given %d times: %w", len(vs), store.ErrInvalid)
	case len(vs) == 1 && vs[0] == "csv":
		return true, nil
	case len(vs) == 1 && vs[0] == "json":
		return false, nil
	case len(vs) == 1:
		return false, fmt.Errorf("format %q: want csv or json: %w", vs[0], store.ErrInvalid)
	}
	var qCSV, qJSON float64
	for _, h := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if v, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(v, 64); err != nil {
					continue
				}
			}
			switch mt {
			case "text/csv":
				qCSV = max(qCSV, q)
			case "application/json":
				qJSON = max(qJSON, q)
			}
		}
	}
	return qCSV > 0 && qCSV >= qJSON, nil
}
