package mail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/htmlindex"
)

// Violations a message can carry: what a strict relay or a mail client
// would object to. The relay still accepts the message.
const (
	ViolationUnparsable       = "unparsable"   // no RFC 5322 header block, or a broken MIME structure
	ViolationMissingFrom      = "missing_from" // no From header
	ViolationMissingDate      = "missing_date" // no Date header
	ViolationMissingMessageID = "missing_message_id"
	ViolationNonASCIIHeader   = "non_ascii_header" // raw 8-bit header bytes (SMTPUTF8 is not offered)
	ViolationUndeclared8Bit   = "undeclared_8bit"  // 8-bit body bytes without Content-Transfer-Encoding 8bit/binary
	ViolationBareLF           = "bare_lf"          // a line ending that is not CRLF
	ViolationLongLine         = "long_line"        // a line over 998 characters (RFC 5322 §2.1.1)
	ViolationBadEncodedWord   = "bad_encoded_word" // an RFC 2047 subject that does not decode
	ViolationBadCharset       = "bad_charset"      // unknown charset, or text invalid in it
	ViolationBadEncoding      = "bad_transfer_encoding"
	ViolationNoTextPart       = "no_text_part" // nothing text/plain to show as the body
)

// maxDepth bounds nested multiparts.
const maxDepth = 4

// header is what both mail.Header and textproto.MIMEHeader offer.
type header interface{ Get(string) string }

// parse decodes a raw message into a Mail (envelope fields left empty).
func parse(raw []byte) Mail {
	m := Mail{Size: len(raw), Headers: map[string][]string{}}
	var v violations
	lineChecks(raw, &v)
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		v.add(ViolationUnparsable)
		m.Violations = v.list()
		return m
	}
	m.Headers = msg.Header
	for _, vals := range msg.Header {
		for _, s := range vals {
			if !isASCII(s) {
				v.add(ViolationNonASCIIHeader)
			}
		}
	}
	for key, name := range map[string]string{"From": ViolationMissingFrom, "Date": ViolationMissingDate, "Message-Id": ViolationMissingMessageID} {
		if strings.TrimSpace(msg.Header.Get(key)) == "" {
			v.add(name)
		}
	}
	m.MessageID = strings.TrimSpace(msg.Header.Get("Message-Id"))
	subj := msg.Header.Get("Subject")
	if d, err := wordDecoder.DecodeHeader(subj); err == nil {
		m.Subject = d
	} else {
		m.Subject = subj
		v.add(ViolationBadEncodedWord)
	}
	body, ok := textBody(msg.Header, msg.Body, 0, &v)
	if !ok {
		v.add(ViolationNoTextPart)
	}
	m.Body = strings.ReplaceAll(body, "\r\n", "\n")
	m.Violations = v.list()
	return m
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charsetReader}

// charsetReader decodes the charsets a WHATWG browser knows (windows-1258,
// iso-8859-1, …); UTF-8 and US-ASCII never get here.
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(r), nil
}

// textBody returns the first text/plain content of an entity, decoded.
func textBody(h header, body io.Reader, depth int, v *violations) (string, bool) {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii" // RFC 2045 §5.2
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		v.add(ViolationUnparsable)
		return "", false
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth >= maxDepth || params["boundary"] == "" {
			v.add(ViolationUnparsable)
			return "", false
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// Raw parts: NextPart would decode quoted-printable itself, and
			// only that one encoding.
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return "", false
			}
			if err != nil {
				v.add(ViolationUnparsable)
				return "", false
			}
			if s, ok := textBody(p.Header, p, depth+1, v); ok {
				return s, true
			}
		}
	}
	if mt != "text/plain" {
		return "", false
	}
	var r io.Reader = body
	cte := strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding")))
	switch cte {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // skips CR and LF
	case "", "7bit", "8bit", "binary":
	default:
		v.add(ViolationBadEncoding)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		v.add(ViolationBadEncoding)
	}
	if (cte == "" || cte == "7bit") && !isASCII(string(data)) {
		v.add(ViolationUndeclared8Bit)
	}
	switch cs := strings.ToLower(params["charset"]); cs {
	case "", "utf-8", "utf8", "us-ascii":
		if !utf8.Valid(data) {
			v.add(ViolationBadCharset)
		}
	default:
		dr, err := charsetReader(cs, bytes.NewReader(data))
		var dec []byte
		if err == nil {
			dec, err = io.ReadAll(dr)
		}
		if err != nil {
			v.add(ViolationBadCharset)
		} else {
			data = dec
		}
	}
	return string(data), true
}

// lineChecks flags line endings other than CRLF and over-long lines.
func lineChecks(raw []byte, v *violations) {
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		line := raw
		if i >= 0 {
			line, raw = raw[:i], raw[i+1:]
			if !bytes.HasSuffix(line, []byte("\r")) {
				v.add(ViolationBareLF)
			}
		} else {
			raw = nil
		}
		if len(bytes.TrimSuffix(line, []byte("\r"))) > 998 {
			v.add(ViolationLongLine)
		}
	}
}

// violations collects names once each, in a stable order.
type violations []string

func (v *violations) add(name string) {
	if !slices.Contains(*v, name) {
		*v = append(*v, name)
	}
}

func (v violations) list() []string {
	out := slices.Clone([]string(v))
	slices.Sort(out)
	if out == nil {
		out = []string{} // [] rather than null in JSON: tests compare it
	}
	return out
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
