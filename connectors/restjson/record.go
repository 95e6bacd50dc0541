package restjson

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/schemas"
)

// parseDossier turns one element of duLieu into a RawRecord. It never fails:
// whatever cannot be read is left empty and the payload passes on as sent
// (compacted), for mapping to accept or quarantine.
func parseDossier(source string, raw json.RawMessage, pulled time.Time) schemas.RawRecord {
	payload := raw
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		payload = buf.Bytes()
	}
	rec := schemas.RawRecord{
		Source:  source,
		Op:      schemas.OpUpsert,
		Format:  schemas.FormatJSON,
		Payload: payload,
		Pulled:  pulled,
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return rec // not an object
	}
	rec.ID = httpx.JSONString(field(obj, "maHoSo"))
	rec.Version, _ = httpx.JSONInt(field(obj, "phienBan"))
	if t, ok := jsonTime(field(obj, "ngayCapNhat")); ok {
		rec.Updated = &t
	}
	return rec
}

// field looks a key up exactly, then case-insensitively.
func field(obj map[string]json.RawMessage, key string) json.RawMessage {
	if v, ok := obj[key]; ok {
		return v
	}
	for k, v := range obj {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

// jsonTime reads RFC 3339 (zoneless values are Vietnam time), a few other
// common forms, or epoch seconds / milliseconds.
func jsonTime(v json.RawMessage) (time.Time, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return schemas.ParseTime(s)
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil && i > 0 {
			return schemas.EpochTime(i), true
		}
	}
	return time.Time{}, false
}
