package hub

import (
	"crypto/tls"

	"github.com/lienthong/lienthong/router/kafka"
)

// security returns the TLS and SASL settings for the Kafka clients.
func (h *Hub) security() (*tls.Config, *kafka.SASLConfig) {
	var t *tls.Config
	if h.cfg.Kafka.TLS {
		t = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	var s *kafka.SASLConfig
	if h.cfg.Kafka.SASLMechanism != "" {
		s = &kafka.SASLConfig{Mechanism: h.cfg.Kafka.SASLMechanism, Username: h.cfg.Kafka.SASLUsername, Password: h.cfg.Kafka.SASLPassword}
	}
	return t, s
}
