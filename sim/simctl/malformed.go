package simctl

import (
	"hash/fnv"
	"strconv"
)

// Corrupts decides whether the record (id, version) is served malformed at
// rate. The decision is a stable hash of (id, version), so re-reading the same
// version is corrupted the same way; choice is a second stable value for
// picking which field and how.
func Corrupts(id string, version int, rate float64) (bool, uint64) {
	if rate <= 0 {
		return false, 0
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(version)))
	x := mix(h.Sum64())
	u := float64(x>>11) / (1 << 53)
	return u < rate, mix(x ^ 0xa0761d6478bd642f)
}

// mix is the splitmix64 finaliser: spreads FNV's weak low bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Corruption kinds, shared by the portal formats.
const (
	KindBadDOB          = "bad_dob"             // impossible date of birth
	KindUnknownStatus   = "unknown_status"      // status value outside the portal's table
	KindCCCDCentury     = "cccd_wrong_century"  // CCCD century digit contradicts the DOB
	KindCCCDLength      = "cccd_11_digits"      // CCCD with a digit missing
	KindBadPhone        = "bad_phone"           // "09x123"
	KindFeeNotNumber    = "fee_not_number"      // fee amount "abc"
	KindBadSubmitted    = "bad_submission_date" // submission date garbage
	corruptionKindCount = 7
)

// CorruptionKinds lists the kinds in the order choice values select them.
var CorruptionKinds = [corruptionKindCount]string{
	KindBadDOB, KindUnknownStatus, KindCCCDCentury, KindCCCDLength, KindBadPhone, KindFeeNotNumber, KindBadSubmitted,
}

// KindsFrom returns every kind, starting at the one choice selects, so a format
// can fall back to the next kind when a record lacks the chosen field.
func KindsFrom(choice uint64) []string {
	out := make([]string, 0, corruptionKindCount)
	start := int(choice % corruptionKindCount)
	for i := range corruptionKindCount {
		out = append(out, CorruptionKinds[(start+i)%corruptionKindCount])
	}
	return out
}

// WrongCentury flips a CCCD's century digit to the other century (same sex),
// which contradicts any date of birth consistent with the original. It returns
// "" if id has no usable fourth digit.
func WrongCentury(id string) string {
	if len(id) < 4 || id[3] < '0' || id[3] > '9' {
		return ""
	}
	d := id[3] - '0'
	if d >= 2 {
		d -= 2
	} else {
		d += 2
	}
	return id[:3] + string(rune('0'+d)) + id[4:]
}
