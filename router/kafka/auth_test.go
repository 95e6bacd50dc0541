package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
)

// roundTrip publishes one message and reads it back through a consumer
// group with the given connection settings.
func roundTrip(t *testing.T, brokers []string, tlsCfg *tls.Config, sasl *kafka.SASLConfig) error {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers, TLS: tlsCfg, SASL: sasl, MaxAttempts: 2}, testLogger())
	if err != nil {
		return err
	}
	defer pub.Close()
	topic := "auth-" + watermill.NewShortUUID()
	msg := message.NewMessage(watermill.NewUUID(), []byte("secret"))
	if err := pub.Publish(topic, msg); err != nil {
		return err
	}
	cfg := testSubscriberConfig(brokers, "auth")
	cfg.TLS, cfg.SASL = tlsCfg, sasl
	sub := mustSubscriber(t, cfg)
	ch, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		return err
	}
	m := receive(t, ch, 20*time.Second)
	m.Ack()
	if m.UUID != msg.UUID {
		t.Errorf("got %s, want %s", m.UUID, msg.UUID)
	}
	return nil
}

func TestSASL(t *testing.T) {
	t.Parallel()
	b, err := broker.Start(context.Background(), broker.Config{Opts: []kfake.Opt{
		kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pw"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pw256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pw512"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, c := range []kafka.SASLConfig{
		{Mechanism: "PLAIN", Username: "plain-user", Password: "plain-pw"},
		{Mechanism: "SCRAM-SHA-256", Username: "scram256", Password: "pw256"},
		{Mechanism: "SCRAM-SHA-512", Username: "scram512", Password: "pw512"},
	} {
		t.Run(c.Mechanism, func(t *testing.T) {
			if err := roundTrip(t, b.Addrs(), nil, &c); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		err := roundTrip(t, b.Addrs(), nil, &kafka.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "scram256", Password: "nope"})
		if err == nil {
			t.Fatal("publish with a wrong password succeeded")
		}
	})
}

// selfSigned returns a server certificate for 127.0.0.1 and a client config
// trusting it.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := selfSigned(t)
	b, err := broker.Start(context.Background(), broker.Config{Opts: []kfake.Opt{kfake.TLS(serverTLS)}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := roundTrip(t, b.Addrs(), clientTLS, nil); err != nil {
		t.Fatal(err)
	}
}
