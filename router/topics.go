// Package router carries every step of the hub over Kafka with a Watermill
// router: raw records per source → normalise → canonical topic → national
// sink. Every message is keyed by its dossier, so one dossier's changes stay
// in one partition and in order.
package router

// Topics names the hub's Kafka topics. A prefix lets several hubs share a
// cluster.
type Topics struct {
	Prefix string
}

// Raw is the topic of records pulled from source, exactly as sent.
func (t Topics) Raw(source string) string { return t.Prefix + "raw." + source }

// Canonical is the topic of canonical dossiers from every source.
func (t Topics) Canonical() string { return t.Prefix + "canonical" }

// Notices is the topic of notifications to applicants, read by one
// consumer per channel (SMS, email).
func (t Topics) Notices() string { return t.Prefix + "notices" }
