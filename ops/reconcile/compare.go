package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/lienthong/lienthong/connectors/national"
)

// Differences names the fields of want (as the hub sends it) whose values
// the portal's copy got does not hold, sorted. The spec fixes neither the
// order of repeated elements nor how a value is written, so the comparison
// assumes the least: a list is compared as a multiset, a number may come as
// a string, a flag as "1"/"0", text in another Unicode normal form, and a
// field the portal leaves out equals an empty value. Fields only the portal
// has are not differences.
func Differences(want national.HoSo, got json.RawMessage) ([]string, error) {
	w, err := generic(want)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.UseNumber()
	var g map[string]any
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("the portal's HOSO is not a JSON object: %w", err)
	}
	var out []string
	for k, wv := range w.(map[string]any) {
		if !equal(wv, g[k]) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// generic is v as encoding/json decodes it into any, numbers as
// json.Number.
func generic(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	return out, dec.Decode(&out)
}

// equal reports whether got holds want, with want's type deciding how a
// scalar of got is read.
func equal(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return got == nil && len(w) == 0
		}
		for k, wv := range w {
			if !equal(wv, g[k]) {
				return false
			}
		}
		return true
	case []any:
		g, _ := got.([]any)
		if got != nil && g == nil {
			return false // a scalar where a list belongs
		}
		if len(g) != len(w) {
			return false
		}
		used := make([]bool, len(g))
	next:
		for _, wv := range w {
			for i, gv := range g {
				if !used[i] && equal(wv, gv) {
					used[i] = true
					continue next
				}
			}
			return false
		}
		return true
	case json.Number:
		return sameNumber(string(w), scalar(got))
	case bool:
		return w == truthy(scalar(got))
	case string:
		return text(w) == text(scalar(got))
	case nil:
		return scalar(got) == ""
	}
	return false
}

// scalar is got written as text: "" for an absent or null value.
func scalar(got any) string {
	switch g := got.(type) {
	case nil:
		return ""
	case string:
		return g
	case json.Number:
		return string(g)
	case bool:
		if g {
			return "true"
		}
		return "false"
	}
	return fmt.Sprint(got)
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true
	}
	return false
}

// sameNumber compares two decimal numbers exactly; an empty got equals 0,
// the value the hub sends for "none".
func sameNumber(want, got string) bool {
	got = strings.TrimSpace(got)
	if got == "" {
		got = "0"
	}
	a, ok1 := new(big.Rat).SetString(want)
	b, ok2 := new(big.Rat).SetString(got)
	return ok1 && ok2 && a.Cmp(b) == 0
}

func text(s string) string { return norm.NFC.String(strings.TrimSpace(s)) }
