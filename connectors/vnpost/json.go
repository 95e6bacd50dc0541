package vnpost

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lienthong/lienthong/connectors/httpx"
)

// jsonInt reads a JSON number or numeric string leniently.
func jsonInt(v json.RawMessage) (int64, bool) {
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return httpx.ParseInt(n.String())
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return httpx.ParseInt(s)
	}
	return 0, false
}

// jsonString reads a JSON string, or a number as its text; "" otherwise.
func jsonString(v json.RawMessage) string {
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

// jsonErr keeps the decoder's complaint but never quotes the body.
func jsonErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("unexpected %s for %s", te.Value, te.Field)
	}
	return errors.New("invalid JSON")
}
