package fields

import (
	"errors"
	"strconv"
	"strings"
)

// Money reads an amount of whole VND: a non-negative integer written in
// digits. Empty is an error: a fee without an amount cannot be charged.
func Money(s string) (int64, error) {
	return count(s, "not a whole non-negative amount of VND")
}

// Size reads a non-negative count such as a file size in bytes.
func Size(s string) (int64, error) {
	return count(s, "not a non-negative integer")
}

func count(s, reason string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("missing")
	}
	if !allDigits(s) {
		return 0, errors.New(reason)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New(reason)
	}
	return n, nil
}

// Bool reads true/false or 1/0. Empty is no value (false, ok).
func Bool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, errors.New("not a boolean (want true/false or 1/0)")
}

// LookUp finds a source code in its table; the value is quoted in the
// reason because codes are never personal data (it is cut short in case a
// corrupted record put something else there).
func LookUp[T any](s string, table map[string]T) (T, error) {
	s = strings.TrimSpace(s)
	v, ok := table[s]
	if !ok {
		var zero T
		if s == "" {
			return zero, errors.New("missing")
		}
		return zero, errors.New("unknown value " + strconv.Quote(Truncate(s, 24)))
	}
	return v, nil
}

// Truncate cuts s to at most n runes.
func Truncate(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i] + "…"
		}
		n--
	}
	return s
}
