package hub

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/schemas"
)

// Config is everything `hub serve` needs. Every endpoint, credential and
// limit comes from here; the file may reference environment variables as
// ${NAME}, so secrets can stay out of it.
type Config struct {
	Instance string `yaml:"instance"`
	// LeaseTTL is how long a poller's lease lasts without renewal: how soon
	// another instance takes over a dead one's pollers.
	LeaseTTL time.Duration `yaml:"lease_ttl"`
	Kafka    KafkaConfig   `yaml:"kafka"`
	Store    StoreConfig   `yaml:"store"`

	National NationalConfig `yaml:"national"`
	// Sources are the provincial portals, each an instance of an interface
	// kind: adding a province is an entry here, not code.
	Sources []SourceConfig `yaml:"sources"`

	// HTTP is the hub's own HTTP server (the payment platform's callback).
	HTTP HTTPConfig `yaml:"http"`
	// The level-4 flows; a nil section leaves that flow out.
	Payment *PaymentConfig `yaml:"payment"`
	VNPost  *VNPostConfig  `yaml:"vnpost"`
	SMS     *SMSConfig     `yaml:"sms"`
	SMTP    *SMTPConfig    `yaml:"smtp"`

	Router    RouterConfig    `yaml:"router"`
	Breaker   BreakerConfig   `yaml:"breaker"`
	Retention RetentionConfig `yaml:"retention"`
	Tracing   TracingConfig   `yaml:"tracing"`
}

// RetentionConfig bounds what the store keeps. Only provenance events are
// pruned: the ledger, the quarantine and the audit log are kept.
type RetentionConfig struct {
	// Events is how long provenance events are kept (default 4320h, 180
	// days); a negative value keeps them for ever. Events of dossiers with
	// an open quarantine entry are kept whatever their age.
	Events time.Duration `yaml:"events"`
	// Interval is how often old events are pruned (default 1h).
	Interval time.Duration `yaml:"interval"`
}

// BreakerConfig tunes the circuit breaker of every external endpoint.
type BreakerConfig struct {
	// Failures in a row that open a breaker (default 5).
	Failures int `yaml:"failures"`
	// Timeout is how long an open breaker waits before letting a probe
	// through (default 5s).
	Timeout time.Duration `yaml:"timeout"`
}

// HTTPConfig is the hub's HTTP listener.
type HTTPConfig struct {
	Listen string `yaml:"listen"` // host:port, e.g. ":8080"
}

// PaymentCallbackPath is where the payment platform posts its
// notifications (IPN) on the hub's HTTP listener.
const PaymentCallbackPath = "/callbacks/payment"

// PaymentConfig is the national payment platform.
type PaymentConfig struct {
	BaseURL string        `yaml:"base_url"`
	Timeout time.Duration `yaml:"timeout"`
	// QueryAfter is how long a payment waits for its notification before
	// the hub asks the platform (default 2m).
	QueryAfter time.Duration `yaml:"query_after"`
	// ReconcileInterval is how often that is checked (default 10s).
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
}

// PartnerConfig is one province's partner account.
type PartnerConfig struct {
	Code   string `yaml:"code"`   // MaDoiTac
	Secret string `yaml:"secret"` // HMAC key
}

// VNPostConfig is the postal service.
type VNPostConfig struct {
	BaseURL      string        `yaml:"base_url"`
	ClientID     string        `yaml:"client_id"`
	ClientSecret string        `yaml:"client_secret"`
	CustomerCode string        `yaml:"customer_code"`
	Timeout      time.Duration `yaml:"timeout"`
	PollInterval time.Duration `yaml:"poll_interval"` // tracking feed, default 5s
	PageSize     int           `yaml:"page_size"`
}

// SenderConfig is a sending office.
type SenderConfig struct {
	Name     string `yaml:"name"`
	Tel      string `yaml:"tel"`
	Address  string `yaml:"address"`
	Province string `yaml:"province"`
	District string `yaml:"district"`
	Email    string `yaml:"email"`
}

// SMSConfig is the brand-name SMS gateway.
type SMSConfig struct {
	BaseURL   string        `yaml:"base_url"`
	Username  string        `yaml:"username"`
	Password  string        `yaml:"password"`
	Brandname string        `yaml:"brandname"`
	Timeout   time.Duration `yaml:"timeout"`
}

// SMTPConfig is the mail relay.
type SMTPConfig struct {
	Addr     string        `yaml:"addr"` // host:port
	From     string        `yaml:"from"`
	Username string        `yaml:"username"`
	Password string        `yaml:"password"`
	Timeout  time.Duration `yaml:"timeout"`
}

// RouterConfig tunes the message router.
type RouterConfig struct {
	// DuplicateDeliveries hands every message to its handler twice
	// (Watermill's Duplicator): a test of the hub's idempotency, never for
	// production.
	DuplicateDeliveries bool `yaml:"duplicate_deliveries"`
}

// KafkaConfig locates the brokers.
type KafkaConfig struct {
	Brokers           []string `yaml:"brokers"`
	TopicPrefix       string   `yaml:"topic_prefix"`
	Partitions        int      `yaml:"partitions"`
	ReplicationFactor int      `yaml:"replication_factor"`
	GroupPrefix       string   `yaml:"group_prefix"`
	// SessionTimeout is how long the group waits for a silent member before
	// handing its partitions to the others (default 10s).
	SessionTimeout time.Duration `yaml:"session_timeout"`
	TLS            bool          `yaml:"tls"`
	SASLMechanism  string        `yaml:"sasl_mechanism"` // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUsername   string        `yaml:"sasl_username"`
	SASLPassword   string        `yaml:"sasl_password"`
}

// StoreConfig chooses the durable store: PostgreSQL when a DSN is given,
// otherwise the embedded SQLite file.
type StoreConfig struct {
	PostgresDSN string `yaml:"postgres_dsn"`
	SQLitePath  string `yaml:"sqlite_path"`
	// EncryptionKey (base64 of 32 bytes) encrypts personal data at rest:
	// the canonical dossiers, quarantined payloads, idempotency results.
	EncryptionKey string `yaml:"encryption_key"`
	// OldEncryptionKeys still decrypt values written before a rotation.
	OldEncryptionKeys []string `yaml:"old_encryption_keys"`
	// IdentityKey (base64, at least 32 bytes) keys the hash under which
	// CCCD and tax numbers are indexed for lookup; the numbers themselves
	// are never stored in clear.
	IdentityKey string `yaml:"identity_key"`
}

// StoreKeys are the store's secrets, decoded.
type StoreKeys struct {
	Encryption    []byte
	OldEncryption [][]byte
	Identity      []byte
}

// Keys decodes the configured keys.
func (c StoreConfig) Keys() (StoreKeys, error) {
	var k StoreKeys
	var err error
	decode := func(name, v string) []byte {
		if v == "" || err != nil {
			return nil
		}
		b, e := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if e != nil {
			err = fmt.Errorf("store.%s: not base64: %w", name, e)
		}
		return b
	}
	k.Encryption = decode("encryption_key", c.EncryptionKey)
	for _, o := range c.OldEncryptionKeys {
		k.OldEncryption = append(k.OldEncryption, decode("old_encryption_keys", o))
	}
	k.Identity = decode("identity_key", c.IdentityKey)
	return k, err
}

// NationalConfig is the national portal and how the hub batches to it.
type NationalConfig struct {
	BaseURL  string        `yaml:"base_url"`
	Username string        `yaml:"username"`
	Password string        `yaml:"password"`
	Timeout  time.Duration `yaml:"timeout"`
	Linger   time.Duration `yaml:"linger"`
	// Concurrency is how many batches of dossiers (each up to 1,000, sent
	// in calls of up to 100) may be in flight to the portal at once
	// (default 2). A dossier is never in two at once. More batches share
	// the dossiers at hand (the national sink's window, 2,048 messages), so
	// each holds fewer per call: with 4, calls carried 52-58 items in the
	// backlog benchmark, with 2, 80.
	Concurrency int `yaml:"concurrency"`
	// Calls is how many calls one batch has in flight at once (default 1):
	// its calls carry different dossiers (a dossier's steps, which may span
	// two calls, go one call after the other), so this adds speed without
	// splitting the dossiers at hand into fuller and emptier calls. A
	// portal that limits its request rate answers more of them 429.
	Calls int `yaml:"calls"`
}

// SourceConfig is one provincial portal: an instance of an interface kind
// (spec §1-§3), with its own credentials, cursors, leases, breaker, metrics,
// quarantine and province scope.
type SourceConfig struct {
	// Name is the source's slug: topics raw.<name>, cursors, leases,
	// metrics labels and the API (lower-case letters, digits, '-', '_').
	Name string `yaml:"name"`
	// Label is its name for people in the console ("Sơn La"; default Name).
	Label string `yaml:"label"`
	// Province is its province code (Decision 124/2004, kept by 19/2025):
	// on every dossier, and the scope of provincial tokens.
	Province string `yaml:"province"`
	Kind     string `yaml:"kind"` // rest-json (§1) | soap (§2) | xml-feed (§3)
	BaseURL  string `yaml:"base_url"`
	// Credentials, as the kind needs: client_id and client_secret
	// (rest-json), username and password (soap), api_key (xml-feed).
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	APIKey       string `yaml:"api_key"`
	// DstCode and MaDonVi identify the province to the national portal
	// (MaDonVi defaults to DstCode).
	DstCode      string        `yaml:"national_dstcode"`
	MaDonVi      string        `yaml:"national_madonvi"`
	PageSize     int           `yaml:"page_size"`
	PollInterval time.Duration `yaml:"poll_interval"`
	Timeout      time.Duration `yaml:"timeout"`
	// Namespace is a soap service's target namespace (default the spec's).
	Namespace string `yaml:"namespace"`
	// Charset is what an xml-feed answer is read as when neither its
	// Content-Type nor its XML prolog says (utf-8 or windows-1258; the
	// default utf-8).
	Charset string `yaml:"charset"`
	// StatusMap maps the portal's status values to national codes (1-10),
	// over its kind's table.
	StatusMap map[string]int `yaml:"status_map"`
	// Payment is the province's partner account at the payment platform,
	// PostalSender the office its results are posted from (level 4).
	Payment      *PartnerConfig `yaml:"payment"`
	PostalSender *SenderConfig  `yaml:"postal_sender"`
}

// Source returns the configured source named name.
func (c *Config) Source(name string) (SourceConfig, bool) {
	for _, s := range c.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return SourceConfig{}, false
}

// LoadConfig reads a YAML file, expanding ${VAR} from the environment.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	var missing []string
	expanded := os.Expand(string(raw), func(name string) string {
		v, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return Config{}, fmt.Errorf("config %s: environment variables not set: %s", path, strings.Join(missing, ", "))
	}
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, cfg.Validate()
}

// Validate reports the first missing or impossible setting.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Kafka.Brokers) == 0 {
		errs = append(errs, errors.New("kafka.brokers: at least one broker"))
	}
	if c.Store.PostgresDSN == "" && c.Store.SQLitePath == "" {
		errs = append(errs, errors.New("store: postgres_dsn or sqlite_path"))
	}
	if c.Store.EncryptionKey == "" {
		errs = append(errs, errors.New("store.encryption_key: required (base64 of 32 random bytes, e.g. from `openssl rand -base64 32`)"))
	}
	if c.Store.IdentityKey == "" {
		errs = append(errs, errors.New("store.identity_key: required (base64 of at least 32 random bytes)"))
	}
	if _, err := c.Store.Keys(); err != nil {
		errs = append(errs, err)
	}
	if c.National.BaseURL == "" {
		errs = append(errs, errors.New("national.base_url: required"))
	}
	errs = append(errs, c.validateSources()...)
	errs = append(errs, c.validateLevel4()...)
	return errors.Join(errs...)
}

func (c *Config) validateLevel4() []error {
	var errs []error
	if p := c.Payment; p != nil {
		if p.BaseURL == "" {
			errs = append(errs, errors.New("payment.base_url: required"))
		}
		if c.HTTP.Listen == "" {
			errs = append(errs, errors.New("http.listen: required with payment (the platform posts its notifications to "+PaymentCallbackPath+")"))
		}
		if !slices.ContainsFunc(c.Sources, func(s SourceConfig) bool { return s.Payment != nil }) {
			errs = append(errs, errors.New("payment: no source has a payment partner account (sources[].payment)"))
		}
	}
	if v := c.VNPost; v != nil && (v.BaseURL == "" || v.ClientID == "" || v.CustomerCode == "") {
		errs = append(errs, errors.New("vnpost: base_url, client_id and customer_code required"))
	}
	if m := c.SMS; m != nil && (m.BaseURL == "" || m.Brandname == "") {
		errs = append(errs, errors.New("sms: base_url and brandname required"))
	}
	if m := c.SMTP; m != nil && (m.Addr == "" || m.From == "") {
		errs = append(errs, errors.New("smtp: addr and from required"))
	}
	return errs
}

// validateSources checks every source entry, naming it by index and name.
func (c *Config) validateSources() []error {
	if len(c.Sources) == 0 {
		return []error{errors.New("sources: at least one provincial portal")}
	}
	var errs []error
	seen := map[string]int{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if s.Name != "" {
			key += " (" + s.Name + ")"
		}
		bad := func(field, why string) { errs = append(errs, fmt.Errorf("%s.%s: %s", key, field, why)) }
		if j, dup := seen[s.Name]; dup {
			bad("name", fmt.Sprintf("also the name of sources[%d]; names must differ", j))
			continue
		}
		seen[s.Name] = i
		if _, err := mapping.New(s.mapping()); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
		if s.BaseURL == "" {
			bad("base_url", "required")
		}
		if s.DstCode == "" {
			bad("national_dstcode", "required")
		}
		need := func(fields ...string) {
			for _, f := range fields {
				if v := map[string]string{"client_id": s.ClientID, "client_secret": s.ClientSecret,
					"username": s.Username, "password": s.Password, "api_key": s.APIKey}[f]; v == "" {
					bad(f, "required for kind "+s.Kind)
				}
			}
		}
		switch s.Kind {
		case schemas.KindRESTJSON:
			need("client_id", "client_secret")
		case schemas.KindSOAP:
			need("username")
		case schemas.KindXMLFeed:
			need("api_key")
		}
		if s.Charset != "" && s.Kind != schemas.KindXMLFeed {
			bad("charset", "only for kind "+schemas.KindXMLFeed)
		}
		if s.Namespace != "" && s.Kind != schemas.KindSOAP {
			bad("namespace", "only for kind "+schemas.KindSOAP)
		}
		if s.Charset != "" && !httpx.KnownCharset(s.Charset) {
			bad("charset", "unknown charset (utf-8 or windows-1258)")
		}
		if p := s.Payment; p != nil && (p.Code == "" || p.Secret == "") {
			bad("payment", "code and secret required")
		}
	}
	return errs
}

// mapping is what the normaliser knows of the source.
func (s SourceConfig) mapping() mapping.Source {
	return mapping.Source{Name: s.Name, Kind: s.Kind, Province: s.Province, StatusMap: s.StatusMap, Namespace: s.Namespace}
}

// Mapper maps the raw records of the configured sources.
func (c *Config) Mapper() (*mapping.Mapper, error) {
	ms := make([]mapping.Source, len(c.Sources))
	for i, s := range c.Sources {
		ms[i] = s.mapping()
	}
	return mapping.New(ms...)
}
