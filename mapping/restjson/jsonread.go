package restjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/lienthong/lienthong/mapping/internal/fields"
)

// obj walks a JSON object one key at a time instead of decoding it into a
// struct in one go: a wrong type (soTien "abc", hoTen 42) then fails with the
// path of that very field (lePhi[0].soTien) rather than with an opaque
// json error, and null reads as "no value" everywhere. An absent object
// (m == nil) reads as all keys absent.
//
// The payload is decoded once, numbers kept as written (json.Number), and
// the walk reads the decoded values: decoding each level again from its raw
// bytes scanned the record once per level of nesting and per field.
type obj struct {
	m    map[string]any
	path string
	c    *fields.Errs
}

func (o obj) sub(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// parseObj reads a whole payload as an object; empty or null is an absent
// object.
func parseObj(payload []byte, path string, c *fields.Errs) obj {
	o := obj{path: path, c: c}
	if t := bytes.TrimSpace(payload); len(t) == 0 || string(t) == "null" {
		return o
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	if err == nil {
		if _, end := d.Token(); end != io.EOF {
			err = errors.New("data after the object")
		}
	}
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		c.Fail(path, "malformed JSON (want a DOSSIER object)")
		return o
	}
	o.m = m
	return o
}

// valueObj reads a decoded value as an object; null is an absent object.
func valueObj(v any, path string, c *fields.Errs) obj {
	o := obj{path: path, c: c}
	if v == nil {
		return o
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.Fail(path, "not an object")
		return o
	}
	o.m = m
	return o
}

// present tells whether the object exists (neither absent nor null).
func (o obj) present() bool { return o.m != nil }

// str is a string value; absent or null is "". The text is returned as sent
// (normalisation is the caller's), so codes and free text read alike.
func (o obj) str(key string) string {
	switch v := o.m[key].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		o.c.Fail(o.sub(key), "not a string")
		return ""
	}
}

// num is a number's literal text, for fields.Money and friends to judge; a
// string holding the number is taken too (many portals quote numbers).
// Absent or null is "".
func (o obj) num(key string) string {
	switch v := o.m[key].(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	default:
		o.c.Fail(o.sub(key), "not a number")
		return ""
	}
}

// boolean is true/false (or "true"/"false", 1/0); absent or null is false.
func (o obj) boolean(key string) bool {
	s := "?" // an object or a list: not a boolean
	switch v := o.m[key].(type) {
	case nil:
		return false
	case bool:
		s = strconv.FormatBool(v)
	case string:
		s = v
	case json.Number:
		s = string(v)
	}
	return o.c.Bool(o.sub(key), s)
}

// code is a coded value that may be a JSON number or a string (mucDo 4 or
// "TOAN_TRINH"); absent or null is "".
func (o obj) code(key string) string {
	if _, ok := o.m[key].(string); ok {
		return o.str(key)
	}
	return o.num(key)
}

// obj is a nested object; absent or null is an absent object.
func (o obj) obj(key string) obj {
	return valueObj(o.m[key], o.sub(key), o.c)
}

// arr is a list of objects with indexed paths; absent or null is empty.
func (o obj) arr(key string) []obj {
	v := o.m[key]
	if v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		o.c.Fail(o.sub(key), "not a list")
		return nil
	}
	out := make([]obj, len(items))
	for i, it := range items {
		p := o.sub(key) + "[" + strconv.Itoa(i) + "]"
		out[i] = valueObj(it, p, o.c)
		if !out[i].present() {
			o.c.Fail(p, "null item")
		}
	}
	return out
}
