package httpx

import (
	"bytes"
	"fmt"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

var prologEncoding = regexp.MustCompile(`^\s*<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._:\-]+)["']`)

// DeclaredCharsets returns the charset named by the XML prolog and by the
// Content-Type header (either may be empty), lower-cased.
func DeclaredCharsets(body []byte, contentType string) (prolog, header string) {
	head := body
	if len(head) > 512 {
		head = head[:512]
	}
	if m := prologEncoding.FindSubmatch(head); m != nil {
		prolog = strings.ToLower(string(m[1]))
	}
	if contentType != "" {
		if _, params, err := mime.ParseMediaType(contentType); err == nil {
			header = strings.ToLower(strings.Trim(params["charset"], `"' `))
		}
	}
	return prolog, header
}

// ToUTF8 decodes an XML answer to UTF-8 bytes. The charset comes from the
// XML prolog and the Content-Type; when they disagree the bytes decide
// (valid UTF-8 is taken as UTF-8, anything else in the non-UTF-8 charset),
// because legacy portals are often configured inconsistently. Text is not
// normalised: windows-1258 decodes to combining tone marks and stays so.
// Invalid UTF-8 is replaced by U+FFFD so one bad byte cannot sink a feed.
func ToUTF8(body []byte, contentType string) ([]byte, string, error) {
	return ToUTF8Or(body, contentType, "")
}

// KnownCharset reports whether label names a charset ToUTF8 decodes.
func KnownCharset(label string) bool { return isUTF8Label(label) || lookupCharset(label) != nil }

// ToUTF8Or is ToUTF8 for a body that declares no charset in either place
// read as fallback ("" is UTF-8): for a source configured with the charset
// its portal sends without saying so.
func ToUTF8Or(body []byte, contentType, fallback string) ([]byte, string, error) {
	switch {
	case bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")):
		return bytes.ToValidUTF8(body[3:], []byte("\uFFFD")), "utf-8", nil
	case bytes.HasPrefix(body, []byte("\xFF\xFE")), bytes.HasPrefix(body, []byte("\xFE\xFF")):
		out, err := unicode.UTF16(unicode.BigEndian, unicode.UseBOM).NewDecoder().Bytes(body)
		return out, "utf-16", err
	}
	prolog, header := DeclaredCharsets(body, contentType)
	label := chooseCharset(body, prolog, header)
	if prolog == "" && header == "" && fallback != "" {
		label = fallback
	}
	if isUTF8Label(label) {
		return bytes.ToValidUTF8(body, []byte("\uFFFD")), "utf-8", nil
	}
	enc := lookupCharset(label)
	if enc == nil {
		if utf8.Valid(body) {
			return body, "utf-8", nil
		}
		return nil, label, fmt.Errorf("unsupported charset %q", label)
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, label, fmt.Errorf("decode %s: %v", label, err)
	}
	return out, label, nil
}

func chooseCharset(body []byte, prolog, header string) string {
	switch {
	case prolog == "" && header == "":
		return "utf-8"
	case prolog == "":
		return header
	case header == "" || prolog == header:
		return prolog
	}
	// They disagree.
	other := prolog
	if isUTF8Label(prolog) {
		other = header
	}
	if isUTF8Label(prolog) || isUTF8Label(header) {
		if utf8.Valid(body) {
			return "utf-8"
		}
		return other
	}
	return prolog // two legacy charsets: the prolog travels with the bytes
}

func isUTF8Label(l string) bool {
	switch l {
	case "utf-8", "utf8", "unicode-1-1-utf-8", "us-ascii", "ascii":
		return true
	}
	return false
}

// lookupCharset knows the single-byte charsets a Vietnamese legacy system
// may plausibly declare; that keeps the CJK tables out of the binary.
func lookupCharset(label string) encoding.Encoding {
	l := strings.NewReplacer("-", "", "_", "", " ", "").Replace(label)
	l = strings.TrimPrefix(l, "x")
	switch l {
	case "windows1258", "cp1258", "vietnamese":
		return charmap.Windows1258
	case "windows1252", "cp1252", "iso88591", "latin1", "l1":
		return charmap.Windows1252
	case "windows1250", "cp1250":
		return charmap.Windows1250
	case "windows1251", "cp1251":
		return charmap.Windows1251
	case "windows1254", "cp1254":
		return charmap.Windows1254
	case "iso885915", "latin9":
		return charmap.ISO8859_15
	case "iso88592", "latin2":
		return charmap.ISO8859_2
	case "utf16", "utf16le":
		return unicode.UTF16(unicode.LittleEndian, unicode.UseBOM)
	case "utf16be":
		return unicode.UTF16(unicode.BigEndian, unicode.UseBOM)
	}
	return nil
}
