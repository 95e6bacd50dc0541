package restjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
)

// Ordered JSON editing: posted records must be stored exactly as sent apart
// from the fields the portal sets, so objects are edited as ordered lists of
// raw members instead of being round-tripped through maps (which would
// reorder keys and renormalise numbers).

type member struct {
	key string
	val json.RawMessage
}

func parseObject(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var ms []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		ms = append(ms, member{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON object")
	}
	return ms, nil
}

func encodeObject(ms []member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.val)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func parseArray(raw []byte) ([]json.RawMessage, error) {
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	return a, nil
}

func encodeArray(a []json.RawMessage) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, v := range a {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(v)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// getPath returns the value at path (object keys as strings, array indexes as
// ints), or false.
func getPath(raw []byte, path ...any) (json.RawMessage, bool) {
	cur := json.RawMessage(raw)
	for _, p := range path {
		switch p := p.(type) {
		case string:
			ms, err := parseObject(cur)
			if err != nil {
				return nil, false
			}
			found := false
			for _, m := range ms {
				if m.key == p {
					cur, found = m.val, true
					break
				}
			}
			if !found {
				return nil, false
			}
		case int:
			a, err := parseArray(cur)
			if err != nil || p >= len(a) {
				return nil, false
			}
			cur = a[p]
		}
	}
	return cur, true
}

// getString returns the string at path, or false if absent or not a string.
func getString(raw []byte, path ...any) (string, bool) {
	v, ok := getPath(raw, path...)
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// replacePath replaces the existing value at path with val.
func replacePath(raw []byte, val json.RawMessage, path ...any) ([]byte, bool) {
	if len(path) == 0 {
		return val, true
	}
	switch p := path[0].(type) {
	case string:
		ms, err := parseObject(raw)
		if err != nil {
			return nil, false
		}
		for i := range ms {
			if ms[i].key == p {
				v, ok := replacePath(ms[i].val, val, path[1:]...)
				if !ok {
					return nil, false
				}
				ms[i].val = v
				return encodeObject(ms), true
			}
		}
	case int:
		a, err := parseArray(raw)
		if err != nil || p >= len(a) {
			return nil, false
		}
		v, ok := replacePath(a[p], val, path[1:]...)
		if !ok {
			return nil, false
		}
		a[p] = v
		return encodeArray(a), true
	}
	return nil, false
}

// setTop sets top-level key to val: in place if present, else right after
// the member named after (or at the end).
func setTop(ms []member, key string, val json.RawMessage, after string) []member {
	for i := range ms {
		if ms[i].key == key {
			ms[i].val = val
			return ms
		}
	}
	for i := range ms {
		if ms[i].key == after {
			out := append([]member(nil), ms[:i+1]...)
			out = append(out, member{key, val})
			return append(out, ms[i+1:]...)
		}
	}
	return append(ms, member{key, val})
}

func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func jsonInt(n int) json.RawMessage { return json.RawMessage(strconv.Itoa(n)) }
