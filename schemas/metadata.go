package schemas

import "strconv"

// MetadataSource is the metadata key of every message about a dossier (raw,
// canonical, replayed, notification) holding its source's name.
const MetadataSource = "source"

// MetadataStatus is the canonical message's metadata key holding the
// dossier's national status code (not personal data, so in clear in the
// Kafka headers). Handlers that act on a few statuses only read it to skip
// the other messages without decoding them.
const MetadataStatus = "status"

// MetadataVersion is the canonical message's metadata key holding the
// dossier's source version (decimal): of a dossier's versions waiting for
// the national sink, an older one gives way to a newer one by it.
const MetadataVersion = "version"

// StatusElsewhere reports whether meta, a canonical message's
// MetadataStatus value, names a status other than every one of want: the
// message can then be skipped undecoded. A message without it (a resync, a
// replay, one written by an older hub) must be decoded.
func StatusElsewhere(meta string, want ...int) bool {
	if meta == "" {
		return false
	}
	n, err := strconv.Atoi(meta)
	if err != nil {
		return false
	}
	for _, w := range want {
		if n == w {
			return false
		}
	}
	return true
}
