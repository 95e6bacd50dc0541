package httpx

import (
	"encoding/json"
	"strings"

	"github.com/lienthong/lienthong/schemas"
)

// JSONInt reads an integer given as a JSON number or numeric string,
// leniently as schemas.ParseInt.
func JSONInt(v json.RawMessage) (int64, bool) {
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return schemas.ParseInt(n.String())
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return schemas.ParseInt(s)
	}
	return 0, false
}

// JSONString reads a JSON string, trimmed, or a number's literal; ""
// otherwise.
func JSONString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return n.String()
	}
	return ""
}
