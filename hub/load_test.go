package hub

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// problemsOf returns LoadConfig's problems, which must be Problems.
func problemsOf(t *testing.T, err error) Problems {
	t.Helper()
	var ps Problems
	if err != nil && !errors.As(err, &ps) {
		t.Fatalf("error %v is not Problems", err)
	}
	return ps
}

// wantProblems checks that ps are exactly want, in order: each the start of
// a problem, where and setting, then some of its message.
func wantProblems(t *testing.T, ps Problems, want ...string) {
	t.Helper()
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for i := range min(len(ps), len(want)) {
		if !strings.HasPrefix(ps[i].String(), want[i]) {
			t.Errorf("problem %d:\n  %s\nwant\n  %s…", i, ps[i], want[i])
		}
	}
}

// TestLoadConfigProblems: every problem of a file, each with its line and
// its setting, in the file's order; none hides another.
func TestLoadConfigProblems(t *testing.T) {
	p := writeConfig(t, `instance: test
kafka:
  brokers: [kafka-1:9092, kafka-2]
  partitions: many
  sasl_mechanism: GSSAPI
store:
  postgres_dsn: postgres://db.example/x
  encryption_key: c2hvcnQ=
  identity_key: ${LIENTHONG_TEST_SURELY_UNSET}
national:
  base_url: national.example
  timeout: soon
sources:
  - name: sonla
    province: "14"
    kind: rest-json
    base_url: https://sonla.example
    client_id: hub
    national_dstcode: 000.00.00.H52
    status_map: {X: 11}
  - name: thainguyen
    province: "19"
    kind: soap
    base_url: https://tn.example
    pasword: x
    national_dstcode: 000.00.00.H55
smtp:
  addr: smtp.example
  from: khongtraloi@example.vn
  from: again@example.vn
`)
	_, err := LoadConfig(p)
	wantProblems(t, problemsOf(t, err),
		p+":2: kafka.sasl_username: required with sasl_mechanism",
		p+`:3: kafka.brokers[1]: "kafka-2" is not host:port`,
		p+":4: kafka.partitions: not a whole number",
		p+`:5: kafka.sasl_mechanism: "GSSAPI" is not PLAIN`,
		p+":8: store.encryption_key: 5 bytes, need 32",
		// Not also "required": the unset variable says why.
		p+":9: store.identity_key: environment variable LIENTHONG_TEST_SURELY_UNSET not set",
		p+`:11: national.base_url: "national.example" is not an absolute http(s) URL`,
		p+":12: national.timeout: not a duration",
		p+":14: sources[0] (sonla).client_secret: required for kind rest-json",
		p+`:20: sources[0] (sonla).status_map: "X": national status 11 is not 1-10`,
		p+":21: sources[1] (thainguyen).username: required for kind soap",
		p+":25: sources[1] (thainguyen).pasword: unknown key",
		p+`:28: smtp.addr: "smtp.example" is not host:port`,
		p+":30: smtp.from: also set at line 29",
	)
}

func TestLoadConfigUnreadable(t *testing.T) {
	_, err := LoadConfig(writeConfig(t, "kafka:\n  brokers: [a:1]\n national: x\n"))
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.HasSuffix(ps[0].String(), "c.yaml:2: did not find expected key") {
		t.Errorf("a YAML syntax error: %v, want one problem with the line yaml names", ps)
	}
	_, err = LoadConfig(filepath.Join(t.TempDir(), "missing.yaml"))
	if ps := problemsOf(t, err); len(ps) != 1 || !strings.Contains(ps[0].Msg, "missing.yaml") {
		t.Errorf("a missing file: %v", ps)
	}
}

// setEnvConfig sets, in the environment alone, a configuration with one
// source.
func setEnvConfig(t *testing.T) {
	for k, v := range map[string]string{
		"LIENTHONG_KAFKA_BROKERS":              "kafka-1:9092, kafka-2:9092",
		"LIENTHONG_KAFKA_TLS":                  "true",
		"LIENTHONG_KAFKA_PARTITIONS":           "12",
		"LIENTHONG_LEASE_TTL":                  "30s",
		"LIENTHONG_STORE_POSTGRES_DSN":         exampleDSN,
		"LIENTHONG_STORE_ENCRYPTION_KEY":       testEncryptionKey,
		"LIENTHONG_STORE_IDENTITY_KEY":         testIdentityKey,
		"LIENTHONG_NATIONAL_BASE_URL":          "https://national.example",
		"LIENTHONG_SOURCES_0_NAME":             "sonla",
		"LIENTHONG_SOURCES_0_PROVINCE":         "14",
		"LIENTHONG_SOURCES_0_KIND":             "rest-json",
		"LIENTHONG_SOURCES_0_BASE_URL":         "https://sonla.example",
		"LIENTHONG_SOURCES_0_CLIENT_ID":        "hub",
		"LIENTHONG_SOURCES_0_CLIENT_SECRET":    "a secret ",
		"LIENTHONG_SOURCES_0_NATIONAL_DSTCODE": "000.00.00.H52",
		"LIENTHONG_SOURCES_0_STATUS_MAP":       "DANG_THAM_DINH=4, CHO=2",
		"LIENTHONG_SOURCES_0_PAYMENT_CODE":     "DVC14",
		"LIENTHONG_SOURCES_0_PAYMENT_SECRET":   "s",
		"LIENTHONG_SMTP_ADDR":                  "smtp.example:25",
		"LIENTHONG_SMTP_FROM":                  "khongtraloi@example.vn",
	} {
		t.Setenv(k, v)
	}
}

// TestLoadConfigEnvOnly: no file at all, every setting from LIENTHONG_*.
func TestLoadConfigEnvOnly(t *testing.T) {
	setEnvConfig(t)
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	sonla, _ := cfg.Source("sonla")
	if !reflect.DeepEqual(cfg.Kafka.Brokers, []string{"kafka-1:9092", "kafka-2:9092"}) || !cfg.Kafka.TLS || cfg.Kafka.Partitions != 12 ||
		cfg.LeaseTTL != 30*time.Second || cfg.Store.PostgresDSN != exampleDSN || len(cfg.Sources) != 1 ||
		sonla.ClientSecret != "a secret " || !reflect.DeepEqual(sonla.StatusMap, map[string]int{"DANG_THAM_DINH": 4, "CHO": 2}) ||
		*sonla.Payment != (PartnerConfig{Code: "DVC14", Secret: "s"}) || cfg.SMTP == nil || cfg.SMTP.Addr != "smtp.example:25" ||
		cfg.Payment != nil || cfg.SMS != nil {
		t.Fatalf("configuration from the environment: %+v %+v", cfg, sonla)
	}
}

// TestLoadConfigEnvOverrides: the environment over the file, including an
// unset ${NAME} it replaces, and a second source added to the file's.
func TestLoadConfigEnvOverrides(t *testing.T) {
	setEnvConfig(t)
	t.Setenv("LIENTHONG_SOURCES_0_NAME", "")
	os.Unsetenv("LIENTHONG_SOURCES_0_NAME") // restored by t.Setenv
	for k, v := range map[string]string{"NAME": "laichau", "PROVINCE": "12", "KIND": "xml-feed", "BASE_URL": "https://laichau.example",
		"API_KEY": "k", "NATIONAL_DSTCODE": "000.00.00.H33"} {
		t.Setenv("LIENTHONG_SOURCES_1_"+k, v)
	}
	t.Setenv("LIENTHONG_NATIONAL_USERNAME", "")
	p := writeConfig(t, `kafka:
  brokers: [file:9092]
national:
  base_url: https://file.example
  username: hub
  password: ${LIENTHONG_TEST_SURELY_UNSET}
sources:
  - name: sonla
    label: Sơn La
    base_url: https://file.example
`)
	t.Setenv("LIENTHONG_NATIONAL_PASSWORD", "from-env")
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Kafka.Brokers) != 2 || cfg.National.BaseURL != "https://national.example" || cfg.National.Password != "from-env" ||
		cfg.National.Username != "" {
		t.Errorf("not overridden: %+v %+v", cfg.Kafka, cfg.National)
	}
	// An empty variable sets its setting empty (national.username);
	// sources[0]'s name and label are the file's.
	if len(cfg.Sources) != 2 || cfg.Sources[0].Name != "sonla" || cfg.Sources[0].Label != "Sơn La" ||
		cfg.Sources[0].BaseURL != "https://sonla.example" || cfg.Sources[1].Name != "laichau" {
		t.Errorf("sources: %+v", cfg.Sources)
	}
}

// TestLoadConfigEnvProblems: a bad value from the environment is reported
// under its variable.
func TestLoadConfigEnvProblems(t *testing.T) {
	setEnvConfig(t)
	t.Setenv("LIENTHONG_KAFKA_PARTITIONS", "many")
	t.Setenv("LIENTHONG_NATIONAL_BASE_URL", "ftp://national.example")
	t.Setenv("LIENTHONG_SOURCES_0_STATUS_MAP", "DANG_THAM_DINH")
	t.Setenv("LIENTHONG_SOURCES_0_PASWORD", "x")
	t.Setenv("LIENTHONG_SOURCES_X_NAME", "x")
	p := writeConfig(t, "retention:\n  events: 4320h\n")
	_, err := LoadConfig(p)
	wantProblems(t, problemsOf(t, err),
		"LIENTHONG_SOURCES_0_PASWORD: not a setting",
		"LIENTHONG_SOURCES_0_STATUS_MAP: sources[0] (sonla).status_map: want KEY=VALUE pairs",
		"LIENTHONG_SOURCES_X_NAME: not a setting",
		"LIENTHONG_KAFKA_PARTITIONS: kafka.partitions: not a whole number",
		`LIENTHONG_NATIONAL_BASE_URL: national.base_url: "ftp://national.example" is not an absolute http(s) URL`,
	)
}

// TestEnvNames: every setting has its own variable.
func TestEnvNames(t *testing.T) {
	seen := map[string]string{}
	for _, s := range append(settings(reflect.TypeFor[Config](), nil), settings(reflect.TypeFor[SourceConfig](), []string{"sources", "0"})...) {
		name, key := envName(s.path...), pathKey(s.path)
		if other, dup := seen[name]; dup {
			t.Errorf("%s and %s are both %s", other, key, name)
		}
		seen[name] = key
	}
	for name, key := range map[string]string{"LIENTHONG_KAFKA_BROKERS": "kafka.brokers", "LIENTHONG_STORE_POSTGRES_DSN": "store.postgres_dsn",
		"LIENTHONG_SOURCES_0_PAYMENT_SECRET": "sources[0].payment.secret", "LIENTHONG_LEASE_TTL": "lease_ttl"} {
		if seen[name] != key {
			t.Errorf("%s is %q, want %s", name, seen[name], key)
		}
	}
}

// TestLoadConfigUnsetOnItsOwnLine: an unset ${NAME} inside a mapping value
// is found on its line, and one on no setting (an empty value, a comment)
// is still reported, by its line.
func TestLoadConfigUnsetOnItsOwnLine(t *testing.T) {
	p := writeConfig(t, `national:
  base_url: https://national.example
  password:
    ${LIENTHONG_TEST_SURELY_UNSET}
sources:
  - status_map:
      X: ${LIENTHONG_TEST_SURELY_UNSET_2}
`)
	_, err := LoadConfig(p)
	msg := errorText(err)
	for _, want := range []string{p + ":4: environment variable LIENTHONG_TEST_SURELY_UNSET not set",
		p + ":7: sources[0].status_map: environment variable LIENTHONG_TEST_SURELY_UNSET_2 not set"} {
		if !strings.Contains(msg, want+"\n") {
			t.Errorf("problems do not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "national status") {
		t.Errorf("the unset variable's value reported too:\n%s", msg)
	}
}

// TestTrailPreviousKeys: store.trail_previous_keys, from the file or the
// environment, is a list of Ed25519 public keys; a bad one is reported at
// its line or under its variable.
func TestTrailPreviousKeys(t *testing.T) {
	setEnvConfig(t)
	pub, key, _ := ed25519.GenerateKey(nil)
	b64 := base64.StdEncoding.EncodeToString
	p := writeConfig(t, "store:\n  signing_key: "+b64(key.Seed())+"\n  trail_previous_keys:\n    - "+b64(pub)+
		"\n    - c2hvcnQ=\n    - \"\"\n")
	_, err := LoadConfig(p)
	wantProblems(t, problemsOf(t, err),
		p+":5: store.trail_previous_keys[1]: 5 bytes, need 32 (base64 of an earlier signing key's Ed25519 public key",
		p+":6: store.trail_previous_keys[2]: empty",
	)
	other, _, _ := ed25519.GenerateKey(nil)
	t.Setenv("LIENTHONG_STORE_TRAIL_PREVIOUS_KEYS", b64(pub)+","+b64(other))
	cfg, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := cfg.Store.Keys()
	if err != nil {
		t.Fatal(err)
	}
	trusted := keys.TrustedTrailKeys()
	if len(trusted) != 3 || !trusted[0].Equal(key.Public()) || !trusted[1].Equal(pub) || !trusted[2].Equal(other) {
		t.Errorf("trusted keys %v", trusted)
	}
	t.Setenv("LIENTHONG_STORE_TRAIL_PREVIOUS_KEYS", "!")
	_, err = LoadConfig(p)
	wantProblems(t, problemsOf(t, err), "LIENTHONG_STORE_TRAIL_PREVIOUS_KEYS: store.trail_previous_keys[0]: not base64")
}
