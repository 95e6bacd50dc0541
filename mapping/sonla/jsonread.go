package sonla

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/lienthong/lienthong/mapping/internal/fields"
)

// obj walks a JSON object one key at a time instead of decoding it into a
// struct in one go: a wrong type (soTien "abc", hoTen 42) then fails with the
// path of that very field (lePhi[0].soTien) rather than with an opaque
// json error, and null reads as "no value" everywhere. An absent object
// (m == nil) reads as all keys absent.
type obj struct {
	m    map[string]json.RawMessage
	path string
	c    *fields.Errs
}

func (o obj) sub(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

func isNull(r json.RawMessage) bool {
	r = bytes.TrimSpace(r)
	return len(r) == 0 || string(r) == "null"
}

// parseObj reads raw as an object; null is an absent object.
func parseObj(raw json.RawMessage, path string, c *fields.Errs) obj {
	o := obj{path: path, c: c}
	if isNull(raw) {
		return o
	}
	if err := json.Unmarshal(raw, &o.m); err != nil {
		if path == "" {
			c.Fail("", "malformed JSON (want a DOSSIER object)")
		} else {
			c.Fail(path, "not an object")
		}
	}
	return o
}

// present tells whether the object exists (neither absent nor null).
func (o obj) present() bool { return o.m != nil }

// str is a string value; absent or null is "". The text is returned as sent
// (normalisation is the caller's), so codes and free text read alike.
func (o obj) str(key string) string {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return ""
	}
	var s string
	if err := json.Unmarshal(r, &s); err != nil {
		o.c.Fail(o.sub(key), "not a string")
	}
	return s
}

// num is a number's literal text, for fields.Money and friends to judge; a
// string holding the number is taken too (many portals quote numbers).
// Absent or null is "".
func (o obj) num(key string) string {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return ""
	}
	r = bytes.TrimSpace(r)
	if r[0] == '"' {
		var s string
		if json.Unmarshal(r, &s) == nil {
			return s
		}
	}
	if r[0] == '-' || r[0] >= '0' && r[0] <= '9' {
		return string(r)
	}
	o.c.Fail(o.sub(key), "not a number")
	return ""
}

// boolean is true/false (or "true"/"false", 1/0); absent or null is false.
func (o obj) boolean(key string) bool {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return false
	}
	s := string(bytes.TrimSpace(r))
	if u, err := strconv.Unquote(s); err == nil {
		s = u
	}
	return o.c.Bool(o.sub(key), s)
}

// code is a coded value that may be a JSON number or a string (mucDo 4 or
// "TOAN_TRINH"); absent or null is "".
func (o obj) code(key string) string {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return ""
	}
	if bytes.TrimSpace(r)[0] == '"' {
		return o.str(key)
	}
	return o.num(key)
}

// obj is a nested object; absent or null is an absent object.
func (o obj) obj(key string) obj {
	return parseObj(o.m[key], o.sub(key), o.c)
}

// arr is a list of objects with indexed paths; absent or null is empty.
func (o obj) arr(key string) []obj {
	r, ok := o.m[key]
	if !ok || isNull(r) {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(r, &items); err != nil {
		o.c.Fail(o.sub(key), "not a list")
		return nil
	}
	out := make([]obj, len(items))
	for i, it := range items {
		p := o.sub(key) + "[" + strconv.Itoa(i) + "]"
		out[i] = parseObj(it, p, o.c)
		if !out[i].present() {
			o.c.Fail(p, "null item")
		}
	}
	return out
}
