package hub

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadExampleConfig(t *testing.T) {
	for _, k := range []string{"KAFKA_PASSWORD", "LIENTHONG_PG_DSN", "NATIONAL_PASSWORD", "SONLA_SECRET", "THAINGUYEN_PASSWORD", "HATINH_API_KEY",
		"PAYMENT_SECRET_SONLA", "PAYMENT_SECRET_THAINGUYEN", "PAYMENT_SECRET_HATINH", "VNPOST_SECRET", "SMS_PASSWORD"} {
		t.Setenv(k, "secret-"+strings.ToLower(k))
	}
	t.Setenv("LIENTHONG_ENCRYPTION_KEY", base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")))
	t.Setenv("LIENTHONG_IDENTITY_KEY", base64.StdEncoding.EncodeToString([]byte("identity key: thirty-two bytes +")))
	cfg, err := LoadConfig(filepath.Join("..", "deploy", "hub.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.PostgresDSN != "secret-lienthong_pg_dsn" || cfg.SonLa.ClientSecret != "secret-sonla_secret" {
		t.Fatalf("environment not expanded: %+v", cfg.Store)
	}
	keys, err := cfg.Store.Keys()
	if err != nil || len(keys.Encryption) != 32 || len(keys.Identity) != 32 {
		t.Fatalf("keys not decoded: %v", err)
	}
	if cfg.HaTinh.DstCode != "000.00.00.H25" || len(cfg.Kafka.Brokers) != 2 || cfg.Kafka.Partitions != 16 {
		t.Fatalf("unexpected config: %+v", cfg)
	}
	if cfg.Payment.Partners["thainguyen"] != (PartnerConfig{Code: "DVC19", Secret: "secret-payment_secret_thainguyen"}) ||
		cfg.VNPost.Senders["hatinh"].Province != "42" || cfg.SMS.Brandname != "DICHVUCONG" || cfg.HTTP.Listen != ":8080" {
		t.Fatalf("level-4 sections not read: %+v %+v", cfg.Payment, cfg.VNPost)
	}
}

func TestLevel4ConfigErrors(t *testing.T) {
	c := Config{Payment: &PaymentConfig{Partners: map[string]PartnerConfig{"sonla": {Code: "DVC14"}}}, SMTP: &SMTPConfig{}}
	msg := errorsText(c.validateLevel4())
	for _, want := range []string{"payment.base_url", "http.listen", "payment.partners.sonla", "smtp: addr and from"} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors %q do not name %s", msg, want)
		}
	}
}

func errorsText(errs []error) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "; ")
	}
	return b.String()
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := LoadConfig(write("store:\n  postgres_dsn: ${LIENTHONG_SURELY_UNSET}\n")); err == nil || !strings.Contains(err.Error(), "LIENTHONG_SURELY_UNSET") {
		t.Fatalf("want error naming the unset variable, got %v", err)
	}
	if _, err := LoadConfig(write("kafka:\n  brokerz: [a]\n")); err == nil || !strings.Contains(err.Error(), "brokerz") {
		t.Fatalf("want error naming the unknown key, got %v", err)
	}
	_, err := LoadConfig(write("kafka:\n  brokers: [a:9092]\nstore:\n  sqlite_path: x.db\nnational:\n  base_url: http://n\nsonla:\n  client_id: x\n"))
	if err == nil || !strings.Contains(err.Error(), "sonla.base_url") || !strings.Contains(err.Error(), "sonla.national_dstcode") {
		t.Fatalf("want missing sonla settings named, got %v", err)
	}
}
