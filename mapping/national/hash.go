package national

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lienthong/lienthong/schemas"
)

// ContentHash is the sha256 (hex) of d's canonical JSON without the source's
// bookkeeping (SourceVersion, SourceUpdated): two versions with the same
// hash say the same thing, so the ledger can skip the second. Times are
// hashed as instants (in UTC), so the zone they were read in does not count.
func ContentHash(d *schemas.Dossier) string {
	c := *d
	c.SourceVersion, c.SourceUpdated = 0, nil
	c.SubmittedAt = utc(c.SubmittedAt)
	c.ReceivedAt = utc(c.ReceivedAt)
	c.DueAt = utc(c.DueAt)
	c.ReturnedAt = utc(c.ReturnedAt)
	c.ProcessingEndedAt = utc(c.ProcessingEndedAt)
	c.Steps = make([]schemas.Step, len(d.Steps))
	for i, s := range d.Steps {
		s.At = s.At.UTC()
		s.StartAt, s.DueAt = utc(s.StartAt), utc(s.DueAt)
		c.Steps[i] = s
	}
	// nil and empty lists say the same thing.
	if c.Fees == nil {
		c.Fees = []schemas.Fee{}
	}
	if c.Attachments == nil {
		c.Attachments = []schemas.Attachment{}
	}
	b, err := json.Marshal(&c)
	if err != nil {
		// Only a time past year 9999 gets here (no source can write one).
		// This hash may differ between calls, so the ledger errs on sending.
		b = fmt.Appendf(nil, "%+v", c)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
