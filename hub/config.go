package hub

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lienthong/lienthong/connectors/email"
	"github.com/lienthong/lienthong/connectors/httpx"
	"github.com/lienthong/lienthong/mapping"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
)

// Config is everything `hub serve` needs. Every endpoint, credential and
// limit comes from here; the file may reference environment variables as
// ${NAME}, so secrets can stay out of it, and LIENTHONG_* variables may set
// any setting (see LoadConfig).
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
	Reconcile ReconcileConfig `yaml:"reconcile"`

	origin *origins // where LoadConfig found each setting
}

// ReconcileConfig is the background comparison of the ledger with the
// national portal (ops/reconcile): a sweep over every dossier, with a
// random sample between, one instance at a time.
type ReconcileConfig struct {
	// Rate is how many TraCuuHoSo lookups a second it makes; 0 (the
	// default) leaves the background job off (`hub reconcile` still runs).
	Rate float64 `yaml:"rate"`
	// Sample makes every Sample-th lookup a random dossier's (default 4;
	// negative: none).
	Sample int `yaml:"sample"`
	// Grace is how long after its last write a dossier counts as in flight
	// and is not judged (default 10m).
	Grace time.Duration `yaml:"grace"`
	// AutoResync sends each drifted dossier through the pipeline again as
	// soon as it is found, once per drift; otherwise an operator does (API
	// or console).
	AutoResync bool `yaml:"auto_resync"`
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
	// SigningKey (base64 of a 32-byte Ed25519 seed) signs the trail's head
	// periodically (docs/audit-trail.md); none: heads are not signed, and
	// `hub audit verify` checks the chains only.
	SigningKey string `yaml:"signing_key"`
	// TrailPreviousKeys (base64 of 32-byte Ed25519 public keys) are the
	// public keys of earlier signing keys: the heads they signed still
	// verify, and the signer goes on from them.
	TrailPreviousKeys []string `yaml:"trail_previous_keys"`
}

// StoreKeys are the store's secrets, decoded.
type StoreKeys struct {
	Encryption    []byte
	OldEncryption [][]byte
	Identity      []byte
	// Signing is the Ed25519 seed the trail's heads are signed with;
	// TrailPrevious the public keys of earlier ones.
	Signing       []byte
	TrailPrevious [][]byte
}

// SigningKey is the Ed25519 key the trail's heads are signed with, or nil.
func (k StoreKeys) SigningKey() ed25519.PrivateKey {
	if len(k.Signing) != ed25519.SeedSize {
		return nil
	}
	return ed25519.NewKeyFromSeed(k.Signing)
}

// PreviousTrailKeys are the earlier signing keys' public keys.
func (k StoreKeys) PreviousTrailKeys() []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, p := range k.TrailPrevious {
		if len(p) == ed25519.PublicKeySize {
			out = append(out, p)
		}
	}
	return out
}

// TrustedTrailKeys are the public keys a head may be signed with: the
// signing key's and the earlier ones.
func (k StoreKeys) TrustedTrailKeys() []ed25519.PublicKey {
	out := k.PreviousTrailKeys()
	if key := k.SigningKey(); key != nil {
		out = append([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, out...)
	}
	return out
}

// Keys decodes the configured keys.
func (c StoreConfig) Keys() (StoreKeys, error) {
	var k StoreKeys
	var errs []error
	decode := func(name, v string) []byte {
		b, err := decodeKey(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("store.%s: %w", name, err))
		}
		return b
	}
	k.Encryption = decode("encryption_key", c.EncryptionKey)
	for _, o := range c.OldEncryptionKeys {
		k.OldEncryption = append(k.OldEncryption, decode("old_encryption_keys", o))
	}
	k.Identity = decode("identity_key", c.IdentityKey)
	k.Signing = decode("signing_key", c.SigningKey)
	for _, p := range c.TrailPreviousKeys {
		k.TrailPrevious = append(k.TrailPrevious, decode("trail_previous_keys", p))
	}
	return k, errors.Join(errs...)
}

// decodeKey decodes a base64 key; "" is no key.
func decodeKey(v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	return b, nil
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

// Validate reports every missing or impossible setting (as Problems), or
// nil. It is what LoadConfig checks, for a configuration built in code.
func (c *Config) Validate() error {
	return c.locate(c.check()).Err()
}

// check finds every missing or impossible setting that `hub serve` would
// otherwise meet only as it starts, each under its key. It connects to
// nothing.
func (c *Config) check() []Problem {
	var p checks
	if len(c.Kafka.Brokers) == 0 {
		p.add("kafka.brokers", "at least one broker (host:port)")
	}
	for i, b := range c.Kafka.Brokers {
		p.hostPort(fmt.Sprintf("kafka.brokers[%d]", i), b)
	}
	if m := c.Kafka.SASLMechanism; m != "" {
		if !slices.Contains([]string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}, strings.ToUpper(m)) {
			p.add("kafka.sasl_mechanism", fmt.Sprintf("%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", m))
		}
		p.need("kafka.sasl_username", c.Kafka.SASLUsername, "with sasl_mechanism")
	}
	c.Store.check(&p)
	p.baseURL("national.base_url", c.National.BaseURL)
	c.checkSources(&p)
	c.checkLevel4(&p)
	if err := c.Tracing.settings("", nil).Validate(); err != nil {
		p.add("tracing", err.Error())
	}
	if c.Reconcile.Rate < 0 {
		p.add("reconcile.rate", "lookups a second: 0 (off) or more")
	}
	if c.Reconcile.Grace < 0 {
		p.add("reconcile.grace", "a duration of 0 or more")
	}
	return p
}

// check checks the store's location and keys as OpenStore and the Kafka
// sealer would take them.
func (c StoreConfig) check(p *checks) {
	if c.PostgresDSN == "" && c.SQLitePath == "" {
		p.add("store.postgres_dsn", "required, or store.sqlite_path for an embedded SQLite file")
	}
	if c.PostgresDSN != "" {
		// As the store parses it; pgconn leaves any password out of its errors.
		if _, err := pgxpool.ParseConfig(c.PostgresDSN); err != nil {
			p.add("store.postgres_dsn", err.Error())
		}
	}
	key := func(name, v string, ok func(n int) bool, want string) {
		b, err := decodeKey(v)
		switch {
		case err != nil:
			p.add("store."+name, err.Error())
		case v != "" && !ok(len(b)):
			p.add("store."+name, fmt.Sprintf("%d bytes, need %s", len(b), want))
		}
	}
	encKey := func(n int) bool { return n == store.EncryptionKeyLen }
	encWant := fmt.Sprintf("%d (base64 of %d random bytes, e.g. from `openssl rand -base64 %d`)", store.EncryptionKeyLen, store.EncryptionKeyLen, store.EncryptionKeyLen)
	p.need("store.encryption_key", c.EncryptionKey, "(base64 of 32 random bytes, e.g. from `openssl rand -base64 32`)")
	key("encryption_key", c.EncryptionKey, encKey, encWant)
	for i, o := range c.OldEncryptionKeys {
		key(fmt.Sprintf("old_encryption_keys[%d]", i), o, encKey, encWant)
	}
	p.need("store.identity_key", c.IdentityKey, "(base64 of at least 32 random bytes)")
	key("identity_key", c.IdentityKey, func(n int) bool { return n >= store.MinIdentityKeyLen }, fmt.Sprintf("at least %d", store.MinIdentityKeyLen))
	key("signing_key", c.SigningKey, func(n int) bool { return n == ed25519.SeedSize }, fmt.Sprintf("%d (base64 of an Ed25519 seed, e.g. from `openssl rand -base64 32`)", ed25519.SeedSize))
	for i, o := range c.TrailPreviousKeys {
		name := fmt.Sprintf("trail_previous_keys[%d]", i)
		if o == "" {
			p.add("store."+name, "empty (base64 of an earlier signing key's Ed25519 public key)")
		}
		key(name, o, func(n int) bool { return n == ed25519.PublicKeySize },
			fmt.Sprintf("%d (base64 of an earlier signing key's Ed25519 public key, as the key line of `hub audit export` has it)", ed25519.PublicKeySize))
	}
}

func (c *Config) checkLevel4(p *checks) {
	if c.HTTP.Listen != "" {
		p.hostPort("http.listen", c.HTTP.Listen)
	}
	if pc := c.Payment; pc != nil {
		p.baseURL("payment.base_url", pc.BaseURL)
		if c.HTTP.Listen == "" {
			p.add("http.listen", "required with payment (the platform posts its notifications to "+PaymentCallbackPath+")")
		}
		if !slices.ContainsFunc(c.Sources, func(s SourceConfig) bool { return s.Payment != nil }) {
			p.add("payment", "no source has a payment partner account (sources[].payment)")
		}
	}
	if v := c.VNPost; v != nil {
		p.baseURL("vnpost.base_url", v.BaseURL)
		p.need("vnpost.client_id", v.ClientID, "")
		p.need("vnpost.client_secret", v.ClientSecret, "")
		p.need("vnpost.customer_code", v.CustomerCode, "")
	}
	if m := c.SMS; m != nil {
		p.baseURL("sms.base_url", m.BaseURL)
		p.need("sms.username", m.Username, "")
		p.need("sms.password", m.Password, "")
		p.need("sms.brandname", m.Brandname, "")
		if strings.ContainsFunc(m.Brandname, func(r rune) bool { return r > unicode.MaxASCII }) {
			p.add("sms.brandname", "must be ASCII")
		}
	}
	if m := c.SMTP; m != nil {
		p.need("smtp.addr", m.Addr, "(host:port)")
		if m.Addr != "" {
			p.hostPort("smtp.addr", m.Addr)
		}
		p.need("smtp.from", m.From, "")
		if _, err := email.ParseAddress(m.From); m.From != "" && err != nil {
			p.add("smtp.from", "not one mail address in ASCII")
		}
		if (m.Username == "") != (m.Password == "") {
			p.add("smtp.password", "username and password go together")
		}
	}
}

// credentials are the settings each kind of source needs to log in.
var credentials = map[string][]string{
	schemas.KindRESTJSON: {"client_id", "client_secret"},
	schemas.KindSOAP:     {"username"},
	schemas.KindXMLFeed:  {"api_key"},
}

// checkSources checks every source entry.
func (c *Config) checkSources(p *checks) {
	if len(c.Sources) == 0 {
		p.add("sources", "at least one provincial portal")
		return
	}
	seen := map[string]int{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		if j, dup := seen[s.Name]; dup && s.Name != "" {
			p.add(key+".name", fmt.Sprintf("also the name of sources[%d]; names must differ", j))
			continue
		}
		seen[s.Name] = i
		for _, e := range mapping.CheckSource(s.mapping()) {
			p.add(key+"."+e.Field, e.Reason)
		}
		p.baseURL(key+".base_url", s.BaseURL)
		p.need(key+".national_dstcode", s.DstCode, "")
		set := map[string]string{"client_id": s.ClientID, "client_secret": s.ClientSecret,
			"username": s.Username, "password": s.Password, "api_key": s.APIKey}
		for _, f := range credentials[s.Kind] {
			p.need(key+"."+f, set[f], "for kind "+s.Kind)
		}
		if s.Charset != "" && s.Kind != schemas.KindXMLFeed {
			p.add(key+".charset", "only for kind "+schemas.KindXMLFeed)
		}
		if s.Namespace != "" && s.Kind != schemas.KindSOAP {
			p.add(key+".namespace", "only for kind "+schemas.KindSOAP)
		}
		if s.Charset != "" && !httpx.KnownCharset(s.Charset) {
			p.add(key+".charset", "unknown charset (utf-8 or windows-1258)")
		}
		if pc := s.Payment; pc != nil {
			p.need(key+".payment.code", pc.Code, "")
			p.need(key+".payment.secret", pc.Secret, "")
		}
	}
}

// checks collects problems, each under its key.
type checks []Problem

func (p *checks) add(key, msg string) { *p = append(*p, Problem{key: key, Msg: msg}) }

// need reports v missing; why says when or what it should be.
func (p *checks) need(key, v, why string) {
	if v == "" {
		p.add(key, strings.TrimSpace("required "+why))
	}
}

// baseURL needs v, an absolute http(s) URL, as every connector does.
func (p *checks) baseURL(key, v string) {
	p.need(key, v, "")
	if v != "" && httpx.CheckBaseURL("", v) != nil {
		p.add(key, fmt.Sprintf("%q is not an absolute http(s) URL", v))
	}
}

// hostPort checks an address to dial or listen on.
func (p *checks) hostPort(key, v string) {
	_, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil || port == "" {
		p.add(key, fmt.Sprintf("%q is not host:port", v))
	}
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
