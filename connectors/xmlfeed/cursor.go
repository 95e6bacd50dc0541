package xmlfeed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/lienthong/lienthong/connectors/httpx"
)

// cursor is the persisted position: the last SEQ handed off.
type cursor struct {
	Seq int64 `json:"seq"`
}

func encodeCursor(seq int64) []byte {
	b, _ := json.Marshal(cursor{Seq: seq})
	return b
}

// decodeCursor reads {"seq":N}, or a bare N for hand-written cursors.
func decodeCursor(b []byte) (int64, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, nil
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Seq < 0 {
		return 0, fmt.Errorf("%w: not {\"seq\":N}", httpx.ErrCursor)
	}
	return c.Seq, nil
}
