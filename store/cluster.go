package store

import "time"

// Instance is one hub process as it last reported itself. Every process
// writes its own row every few seconds, so any instance's operator API can
// show the whole cluster's figures and which processes are alive.
type Instance struct {
	// ID names the process (configured name, pid and a random part): it is
	// also the holder of the leases the process holds.
	ID        string
	Name      string // the configured instance name
	StartedAt time.Time
	SeenAt    time.Time // set by the store on every write
	// State is the process's figures as JSON (counters since it started,
	// breakers, lag, Kafka partitions), written and read by the operator
	// API; the store keeps it as it is. It holds no personal data.
	State []byte
}

// Lease is a lease as stored: who holds it, until when.
type Lease struct {
	Name, Holder string
	ExpiresAt    time.Time
}
