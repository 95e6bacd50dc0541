package hub

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleDSN = "postgres://lienthong@db.example:5432/lienthong"

var (
	testEncryptionKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	testIdentityKey   = base64.StdEncoding.EncodeToString([]byte("identity key: thirty-two bytes +"))
)

// setExampleEnv sets the variables deploy/hub.example.yaml refers to.
func setExampleEnv(t *testing.T) {
	for _, k := range []string{"KAFKA_PASSWORD", "NATIONAL_PASSWORD", "SONLA_SECRET", "LAICHAU_SECRET", "THAINGUYEN_PASSWORD", "HATINH_API_KEY",
		"PAYMENT_SECRET_SONLA", "PAYMENT_SECRET_THAINGUYEN", "PAYMENT_SECRET_HATINH", "VNPOST_SECRET", "SMS_PASSWORD"} {
		t.Setenv(k, "secret-"+strings.ToLower(k))
	}
	t.Setenv("LIENTHONG_PG_DSN", exampleDSN)
	t.Setenv("LIENTHONG_ENCRYPTION_KEY", testEncryptionKey)
	t.Setenv("LIENTHONG_IDENTITY_KEY", testIdentityKey)
}

func TestLoadExampleConfig(t *testing.T) {
	setExampleEnv(t)
	cfg, err := LoadConfig(filepath.Join("..", "deploy", "hub.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sonla, _ := cfg.Source("sonla")
	if cfg.Store.PostgresDSN != exampleDSN || sonla.ClientSecret != "secret-sonla_secret" {
		t.Fatalf("environment not expanded: %+v", cfg.Store)
	}
	keys, err := cfg.Store.Keys()
	if err != nil || len(keys.Encryption) != 32 || len(keys.Identity) != 32 {
		t.Fatalf("keys not decoded: %v", err)
	}
	hatinh, _ := cfg.Source("hatinh")
	if len(cfg.Sources) != 4 || hatinh.DstCode != "000.00.00.H25" || hatinh.Kind != "xml-feed" || hatinh.Province != "42" ||
		len(cfg.Kafka.Brokers) != 2 || cfg.Kafka.Partitions != 16 {
		t.Fatalf("unexpected config: %+v", cfg)
	}
	laichau, _ := cfg.Source("laichau")
	if laichau.Kind != "rest-json" || laichau.Province != "12" || laichau.StatusMap["DANG_THAM_DINH"] != 4 || laichau.Payment != nil {
		t.Fatalf("second rest-json source not read: %+v", laichau)
	}
	thainguyen, _ := cfg.Source("thainguyen")
	if *thainguyen.Payment != (PartnerConfig{Code: "DVC19", Secret: "secret-payment_secret_thainguyen"}) ||
		hatinh.PostalSender.Province != "42" || cfg.SMS.Brandname != "DICHVUCONG" || cfg.HTTP.Listen != ":8080" {
		t.Fatalf("level-4 sections not read: %+v %+v", cfg.Payment, cfg.VNPost)
	}
}

func TestLevel4ConfigErrors(t *testing.T) {
	c := Config{Payment: &PaymentConfig{}, SMTP: &SMTPConfig{Addr: "smtp.example", Username: "u"}, SMS: &SMSConfig{Brandname: "DỊCH VỤ"}, VNPost: &VNPostConfig{}}
	msg := errorText(c.Validate())
	for _, want := range []string{"payment.base_url: required", "http.listen: required with payment", "payment: no source has a payment partner",
		`smtp.addr: "smtp.example" is not host:port`, "smtp.from: required", "smtp.password: username and password go together",
		"sms.base_url: required", "sms.username: required", "sms.password: required", "sms.brandname: must be ASCII",
		"vnpost.base_url: required", "vnpost.client_id: required", "vnpost.client_secret: required", "vnpost.customer_code: required"} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors %q do not say %s", msg, want)
		}
	}
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
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
	_, err := LoadConfig(write("kafka:\n  brokers: [a:9092]\nstore:\n  sqlite_path: x.db\nnational:\n  base_url: http://n\nsources:\n  - {name: sonla, kind: rest-json, province: \"14\", client_id: x}\n"))
	for _, want := range []string{"sources[0] (sonla).base_url: required", "sources[0] (sonla).national_dstcode: required", "sources[0] (sonla).client_secret: required for kind rest-json"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q, got %v", want, err)
		}
	}
	// The old per-province sections are gone: one way to say it.
	if _, err := LoadConfig(write("sonla:\n  base_url: http://x\n")); err == nil || !strings.Contains(err.Error(), "sonla") {
		t.Errorf("want the old sonla: section refused, got %v", err)
	}
}

func TestSourcesConfigErrors(t *testing.T) {
	ok := SourceConfig{Name: "sonla", Kind: "rest-json", Province: "14", BaseURL: "http://x", ClientID: "a", ClientSecret: "b", DstCode: "000.00.00.H52"}
	other := ok
	other.Kind, other.ClientID, other.ClientSecret, other.Username = "soap", "", "", "u"
	feed := SourceConfig{Name: "nghean", Kind: "xml-feed", Province: "40", BaseURL: "http://y", DstCode: "d", Charset: "vn-tcvn3-x", Namespace: "urn:x"}
	bad := SourceConfig{Name: "Lai Châu", Kind: "grpc", Province: "12", BaseURL: "dichvucong.laichau", DstCode: "d", Payment: &PartnerConfig{Code: "DVC12"}}
	c := Config{Sources: []SourceConfig{ok, other, feed, bad}}
	msg := errorText(c.Validate())
	for _, want := range []string{
		"sources[1] (sonla).name: also the name of sources[0]",
		"sources[2] (nghean).api_key: required for kind xml-feed",
		"sources[2] (nghean).charset: unknown charset",
		"sources[2] (nghean).namespace: only for kind soap",
		`sources[3] (Lai Châu).kind: unknown kind "grpc"`,
		"sources[3] (Lai Châu).name: must be 1-40 lower-case letters",
		`sources[3] (Lai Châu).base_url: "dichvucong.laichau" is not an absolute http(s) URL`,
		"sources[3] (Lai Châu).payment.secret: required",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors %q do not say %q", msg, want)
		}
	}
	if msg := errorText((&Config{}).Validate()); !strings.Contains(msg, "sources: at least one") {
		t.Errorf("no sources: %q", msg)
	}
}
