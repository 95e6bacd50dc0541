package xmlfeed

import (
	"bytes"
	"errors"
	"regexp"
	"strings"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/internal/xmltree"
	"github.com/lienthong/lienthong/schemas"
)

// feed is one parsed answer of /dvc/api/dongbo.
type feed struct {
	entries []entry
	more    bool  // CON_DU_LIEU="1"
	last    int64 // SEQ_CUOI
	lastOK  bool
	lenient bool // the document was not well-formed; entries were split by hand
}

// entry is one <HOSO>, read as far as it could be.
type entry struct {
	seq        int64
	seqOK      bool
	id         string // MAHOSO
	op         string
	payload    []byte // standalone UTF-8 <HOSO> element (raw text if not well-formed)
	wellFormed bool
}

// parseFeed decodes the answer's charset (UTF-8 or windows-1258, from the
// prolog and/or Content-Type, else fallback) to UTF-8 without normalising, then reads the
// entries. A document that is not well-formed as a whole is split into its
// <HOSO> entries by hand, so one broken entry does not stop the ones after
// it; a truncated document is an error (retry).
func parseFeed(body []byte, contentType, fallback string) (*feed, error) {
	text, _, err := httpx.ToUTF8Or(body, contentType, fallback)
	if err != nil {
		return nil, err
	}
	root, perr := xmltree.Parse(text)
	if perr != nil {
		return scanFeed(text, perr)
	}
	if root.Local() != "DONGBO" {
		return nil, errors.New("root element is not DONGBO")
	}
	f := &feed{}
	f.readRoot(func(name string) (string, bool) { return root.Attr(name) })
	for h := range root.Elements() {
		if h.Local() != "HOSO" {
			continue
		}
		e := entry{payload: h.Standalone(), wellFormed: true}
		seq, _ := h.Attr("SEQ")
		e.seq, e.seqOK = schemas.ParseInt(seq)
		op, _ := h.Attr("THAO_TAC")
		e.op = opOf(op)
		e.id = strings.TrimSpace(h.Child("MAHOSO").Text())
		f.entries = append(f.entries, e)
	}
	return f, nil
}

func (f *feed) readRoot(attr func(string) (string, bool)) {
	if v, ok := attr("CON_DU_LIEU"); ok {
		f.more = strings.TrimSpace(v) == "1"
	}
	if v, ok := attr("SEQ_CUOI"); ok {
		f.last, f.lastOK = schemas.ParseInt(v)
	}
}

func opOf(thaoTac string) string {
	if strings.EqualFold(strings.TrimSpace(thaoTac), "XOA") {
		return schemas.OpDelete
	}
	// CAPNHAT, and anything unknown: the payload goes on for mapping to judge.
	return schemas.OpUpsert
}

var (
	reRoot    = regexp.MustCompile(`<DONGBO\b([^>]*)>`)
	reRootEnd = regexp.MustCompile(`</DONGBO\s*>\s*$`)
	reHoSo    = regexp.MustCompile(`<HOSO[\s>/]`)
	reAttr    = regexp.MustCompile(`([A-Za-z_][\w.\-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	reMaHoSo  = regexp.MustCompile(`<MAHOSO\s*>\s*([^<]*?)\s*</MAHOSO\s*>`)
)

// scanFeed is the fallback for a document that is not well-formed.
func scanFeed(text []byte, cause error) (*feed, error) {
	m := reRoot.FindSubmatchIndex(text)
	end := reRootEnd.FindIndex(text)
	if m == nil || end == nil {
		return nil, cause // no DONGBO or truncated: nothing trustworthy here
	}
	f := &feed{lenient: true}
	rootAttrs := attrsOf(text[m[2]:m[3]])
	f.readRoot(func(n string) (string, bool) { v, ok := rootAttrs[n]; return v, ok })
	body := text[m[1]:end[0]]
	starts := reHoSo.FindAllIndex(body, -1)
	for i, s := range starts {
		to := len(body)
		if i+1 < len(starts) {
			to = starts[i+1][0]
		}
		chunk := bytes.TrimSpace(body[s[0]:to])
		f.entries = append(f.entries, chunkEntry(chunk))
	}
	return f, nil
}

// chunkEntry reads one hand-split <HOSO>: as XML if it parses on its own,
// else by pattern, passing the raw text on.
func chunkEntry(chunk []byte) entry {
	if h, err := xmltree.Parse(chunk); err == nil && h.Local() == "HOSO" {
		e := entry{payload: h.Standalone(), wellFormed: true}
		seq, _ := h.Attr("SEQ")
		e.seq, e.seqOK = schemas.ParseInt(seq)
		op, _ := h.Attr("THAO_TAC")
		e.op = opOf(op)
		e.id = strings.TrimSpace(h.Child("MAHOSO").Text())
		return e
	}
	e := entry{payload: append([]byte(nil), chunk...), op: schemas.OpUpsert}
	tagEnd := bytes.IndexByte(chunk, '>')
	if tagEnd < 0 {
		tagEnd = len(chunk)
	}
	attrs := attrsOf(chunk[len("<HOSO"):tagEnd])
	e.seq, e.seqOK = schemas.ParseInt(attrs["SEQ"])
	e.op = opOf(attrs["THAO_TAC"])
	if mm := reMaHoSo.FindSubmatch(chunk); mm != nil {
		e.id = string(mm[1])
	}
	return e
}

func attrsOf(s []byte) map[string]string {
	out := map[string]string{}
	for _, m := range reAttr.FindAllSubmatch(s, -1) {
		v := m[2]
		if v == nil {
			v = m[3]
		}
		out[string(m[1])] = string(v)
	}
	return out
}
