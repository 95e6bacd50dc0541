package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/router/kafka"
	"github.com/lienthong/lienthong/router/kafka/broker"
	"github.com/lienthong/lienthong/router/seal"
	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/store"
	"github.com/lienthong/lienthong/store/pgtest"
	"github.com/lienthong/lienthong/store/sqlstore"
	"github.com/lienthong/lienthong/store/storetest"
)

// TestDLQCommand runs `hub dlq list|show|replay|discard` against PostgreSQL
// and a Kafka broker, through the command's run function.
func TestDLQCommand(t *testing.T) {
	ctx := context.Background()
	b, err := broker.Start(ctx, broker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	dsn := pgtest.Schema(t)
	prefix := "dlq" + watermill.NewShortUUID() + "."
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "hub.yaml")
	cfg := fmt.Sprintf(`instance: dlq-test
kafka:
  brokers: [%q]
  topic_prefix: %s
store:
  postgres_dsn: %s
  encryption_key: %s
  identity_key: %s
national:
  base_url: http://127.0.0.1:1
sources:
  - {name: sonla, province: "14", kind: rest-json, base_url: "http://127.0.0.1:1", client_id: hub, client_secret: x, national_dstcode: 000.00.00.H52}
`, b.Addrs()[0], prefix, dsn, base64.StdEncoding.EncodeToString(storetest.EncryptionKey), base64.StdEncoding.EncodeToString(storetest.IdentityKey))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	st, err := sqlstore.OpenPostgres(ctx, dsn, storetest.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 11, 21, 1, 0, 0, 0, time.UTC)
	const person = "Lò Văn Minh"
	longReason := "sonla: dossier 000.00.14.H52-261121-0001: thuTuc.ma: procedure 1.000894 is not in the catalogue of Sơn La; update the catalogue and replay"
	if err := st.AddQuarantine(ctx, []store.QuarantineEntry{
		{Source: "sonla", DossierID: "000.00.14.H52-261121-0001", Version: 3, Field: "thuTuc.ma", Reason: longReason,
			Format: schemas.FormatJSON, Payload: []byte(`{"maHoSo":"000.00.14.H52-261121-0001","chuHoSo":{"hoTen":"` + person + `"}}`), At: at},
		{Source: "hatinh", DossierID: "000.00.42.H25-261121-0003", Version: 1001, Field: "MA_TTHC",
			Reason: "hatinh: MA_TTHC: Mã thủ tục không có trong danh mục", Format: schemas.FormatXML,
			Payload: []byte(`<HOSO SEQ="1001"><HO_TEN>` + person + `</HO_TEN></HOSO>`), At: at.Add(time.Hour)},
		{Source: "sonla", DossierID: "sonla#0", Field: "message", Reason: "raw message m-1 is not a raw record:\ninvalid character",
			Format: schemas.FormatRawMessage, Payload: []byte("\x1b[2J\xff"), At: at.Add(2 * time.Hour)},
	}); err != nil {
		t.Fatal(err)
	}
	entries, err := st.ListQuarantine(ctx, store.QuarantineFilter{})
	if err != nil || len(entries) != 3 {
		t.Fatalf("seeded %d entries, %v", len(entries), err)
	}
	id := func(i int) string { return fmt.Sprint(entries[i].ID) }

	run := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := dlqCommand(ctx, args, &out, &errOut)
		return out.String(), err
	}
	mustRun := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("hub dlq %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	// list: a table, reasons cut short, never a payload.
	out := mustRun("list", "--config", cfgPath)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "REASON") || lines[4] != "3 entries" {
		t.Fatalf("list:\n%s", out)
	}
	if !strings.HasPrefix(lines[1], id(0)+" ") || !strings.Contains(lines[1], "2026-11-21 01:00:00") ||
		!strings.Contains(lines[1], "000.00.14.H52-261121-0001") || !strings.Contains(lines[1], "thuTuc.ma") ||
		strings.Contains(lines[1], "and replay") || !strings.Contains(lines[1], "…") {
		t.Errorf("list row of entry %s: %q", id(0), lines[1])
	}
	if strings.Contains(out, person) || strings.Contains(out, "\x1b") || strings.Contains(lines[3], "\n") {
		t.Errorf("list shows a payload or control characters:\n%q", out)
	}
	out = mustRun("list", "--config", cfgPath, "--source", "hatinh", "--reason", "MÃ THỦ TỤC", "--since", "2026-11-21T07:30:00+07:00")
	if !strings.Contains(out, "000.00.42.H25-261121-0003") || strings.Contains(out, "H52") || !strings.HasSuffix(out, "1 entries\n") {
		t.Errorf("list of hatinh entries:\n%s", out)
	}
	out = mustRun("list", "--config", cfgPath, "--limit", "1", "--offset", "1")
	if !strings.Contains(out, "H25") || !strings.Contains(out, "there may be more: --offset 2") {
		t.Errorf("list --limit 1 --offset 1:\n%s", out)
	}
	// --sort: the newest first, then by dossier ID descending.
	out = mustRun("list", "--config", cfgPath, "--sort", "-at")
	if lines := strings.Split(out, "\n"); len(lines) < 4 || !strings.HasPrefix(lines[1], id(2)+" ") || !strings.HasPrefix(lines[3], id(0)+" ") {
		t.Errorf("list --sort -at: want %s first and %s last:\n%s", id(2), id(0), out)
	}
	out = mustRun("list", "--config", cfgPath, "--sort", "-dossier")
	if lines := strings.Split(out, "\n"); len(lines) < 4 || !strings.HasPrefix(lines[1], id(2)+" ") || !strings.HasPrefix(lines[2], id(1)+" ") {
		t.Errorf("list --sort -dossier: want sonla#0, then the H25 dossier:\n%s", out)
	}
	if _, err := run("list", "--config", cfgPath, "--sort", "reason"); err == nil || !strings.Contains(err.Error(), "want one of id, at") {
		t.Errorf("list --sort reason: %v; want the keys named", err)
	}
	out = mustRun("list", "--config", cfgPath, "--json", "--until", "2026-11-21T02:00:00Z")
	var item map[string]any
	if err := json.Unmarshal([]byte(out), &item); err != nil || item["id"] != float64(entries[0].ID) || item["payload"] != nil {
		t.Errorf("list --json: %v\n%s", err, out)
	}

	// show: everything, the payload as text, or base64 when it is not
	// printable; flags may come after the IDs.
	out = mustRun("show", id(0), id(2), "--config", cfgPath)
	for _, want := range []string{"ID:       " + id(0), "Reason:   " + longReason, "Format:   json", person,
		"Payload:  " + fmt.Sprint(len(entries[2].Payload)) + " bytes, base64", base64.StdEncoding.EncodeToString(entries[2].Payload),
		"Reason:   raw message m-1 is not a raw record: invalid character"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("show printed a control character:\n%q", out)
	}
	if _, err := run("show", "999999", "--config", cfgPath); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("show of a missing entry: %v", err)
	}

	// replay by ID, then again.
	out = mustRun("replay", "--config", cfgPath, id(0), id(2))
	if out != fmt.Sprintf("replayed entry %s\nreplayed entry %s\n", id(0), id(2)) {
		t.Errorf("replay:\n%s", out)
	}
	if _, err := run("replay", "--config", cfgPath, id(0)); err == nil || !strings.Contains(err.Error(), "not open") {
		t.Errorf("second replay: %v", err)
	}
	msgs := drainTopic(t, b.Addrs(), prefix+"raw.sonla")
	if len(msgs) != 2 {
		t.Fatalf("raw.sonla holds %d messages, want 2", len(msgs))
	}
	// Sealed in Kafka, as everything the hub publishes; the hub opens them.
	keys, err := store.NewSealer(storetest.EncryptionKey)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if !seal.IsSealed(m.Payload) || bytes.Contains(m.Payload, []byte(person)) {
			t.Fatalf("replayed message %d is not sealed: %q", i, m.Payload)
		}
		if m.Payload, err = seal.Open(keys, m); err != nil {
			t.Fatalf("replayed message %d: %v", i, err)
		}
	}
	var rec schemas.RawRecord
	if err := json.Unmarshal(msgs[0].Payload, &rec); err != nil || rec.ID != entries[0].DossierID || rec.Version != 3 ||
		string(rec.Payload) != string(entries[0].Payload) || rec.Op != schemas.OpUpsert || rec.Format != schemas.FormatJSON {
		t.Errorf("replayed record %+v, %v", rec, err)
	}
	if k := msgs[0].Metadata.Get(kafka.PartitionKeyMetadata); k != entries[0].DossierID {
		t.Errorf("replayed record keyed %q", k)
	}
	if string(msgs[1].Payload) != string(entries[2].Payload) || msgs[1].Metadata.Get(kafka.PartitionKeyMetadata) != "sonla#0" {
		t.Errorf("replayed raw message %q keyed %q", msgs[1].Payload, msgs[1].Metadata.Get(kafka.PartitionKeyMetadata))
	}
	tl, err := st.Timeline(ctx, entries[0].DossierID)
	if err != nil || len(tl) != 1 || tl[0].Kind != dlq.EventReplayed || tl[0].Detail != "entry "+id(0) || tl[0].Instance != "dlq-test" {
		t.Errorf("timeline %+v, %v", tl, err)
	}

	// discard needs a reason.
	if _, err := run("discard", "--config", cfgPath, id(1)); err == nil || !strings.Contains(err.Error(), "--why") {
		t.Errorf("discard without --why: %v", err)
	}
	out = mustRun("discard", id(1), "--config", cfgPath, "--why", "procedure withdrawn by the province")
	if out != "discarded entry "+id(1)+"\n" {
		t.Errorf("discard:\n%s", out)
	}
	// replay --all: nothing open is left.
	if out := mustRun("replay", "--all", "--config", cfgPath); out != "replayed 0 entries\n" {
		t.Errorf("replay --all:\n%s", out)
	}
	out = mustRun("list", "--config", cfgPath, "--state", "all")
	if strings.Count(out, "replayed") != 2 || strings.Count(out, "discarded") != 1 || !strings.HasSuffix(out, "3 entries\n") {
		t.Errorf("list --state all:\n%s", out)
	}
	if out := mustRun("list", "--config", cfgPath); out != "ID  TIME (UTC)  SOURCE  DOSSIER  VERSION  FIELD  STATE  REASON\n0 entries\n" {
		t.Errorf("list with nothing open:\n%q", out)
	}

	// replay --all with filters replays what matches, oldest first.
	if err := st.AddQuarantine(ctx, []store.QuarantineEntry{
		{Source: "hatinh", DossierID: "H-1", Reason: "catalogue", Format: schemas.FormatXML, Payload: []byte("<HOSO/>")},
		{Source: "sonla", DossierID: "S-1", Reason: "catalogue", Format: schemas.FormatJSON, Payload: []byte("{}")},
		{Source: "hatinh", DossierID: "H-2", Reason: "catalogue", Format: schemas.FormatXML, Payload: []byte("<HOSO/>")},
	}); err != nil {
		t.Fatal(err)
	}
	if out := mustRun("replay", "--all", "--source", "hatinh", "--reason", "CATALOGUE", "--config", cfgPath); out != "replayed 2 entries\n" {
		t.Errorf("replay --all --source hatinh:\n%s", out)
	}
	msgs = drainTopic(t, b.Addrs(), prefix+"raw.hatinh")
	if len(msgs) != 2 || msgs[0].Metadata.Get(kafka.PartitionKeyMetadata) != "H-1" || msgs[1].Metadata.Get(kafka.PartitionKeyMetadata) != "H-2" {
		t.Errorf("raw.hatinh after replay --all: %d messages", len(msgs))
	}
	if out := mustRun("list", "--config", cfgPath); !strings.Contains(out, "S-1") || !strings.HasSuffix(out, "1 entries\n") {
		t.Errorf("list after replay --all --source hatinh:\n%s", out)
	}

	// Usage errors, before anything is opened.
	for _, args := range [][]string{
		{},
		{"purge", "--config", cfgPath},
		{"list", id(0), "--config", cfgPath},
		{"show", "--config", cfgPath},
		{"show", "abc", "--config", cfgPath},
		{"replay", "--config", cfgPath},
		{"replay", "--all", id(0), "--config", cfgPath},
		{"replay", id(0), "--source", "sonla", "--config", cfgPath},
		{"list", "--since", "yesterday", "--config", cfgPath},
		{"list", "--state", "closed", "--config", cfgPath},
		{"list"},
		{"replay", "--all", "--state", "open", "--config", cfgPath},
	} {
		if _, err := run(args...); err == nil {
			t.Errorf("hub dlq %s: no error", strings.Join(args, " "))
		}
	}
	if _, err := run("list", "-h"); err != nil {
		t.Errorf("hub dlq list -h: %v", err)
	}

	// The command as the binary runs it.
	if testing.Short() {
		return
	}
	bin := filepath.Join(dir, "hub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build hub: %v\n%s", err, out)
	}
	got, err := exec.Command(bin, "dlq", "list", "--config", cfgPath, "--source", "sonla").CombinedOutput()
	if err != nil || !strings.Contains(string(got), "S-1") || !strings.HasSuffix(string(got), "1 entries\n") {
		t.Errorf("hub dlq list: %v\n%s", err, got)
	}
	got, err = exec.Command(bin, "dlq", "replay", "--config", cfgPath, id(0)).CombinedOutput()
	if err == nil || !strings.Contains(string(got), "not open") {
		t.Errorf("hub dlq replay of a replayed entry: %v\n%s", err, got)
	}
	got, _ = exec.Command(bin, "-h").CombinedOutput()
	if !strings.Contains(string(got), "dlq       quarantined records") {
		t.Errorf("usage lacks dlq:\n%s", got)
	}
}

// drainTopic publishes a sentinel to topic and returns the messages before
// it.
func drainTopic(t *testing.T, brokers []string, topic string) []*message.Message {
	t.Helper()
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{Brokers: brokers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sentinel := message.NewMessage(watermill.NewUUID(), nil)
	sentinel.Metadata.Set("sentinel", "1")
	if err := pub.Publish(topic, sentinel); err != nil {
		t.Fatal(err)
	}
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{Brokers: brokers, FetchMaxWait: 100 * time.Millisecond,
		// In partition order: the sentinel published last comes last.
		WindowMessages: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []*message.Message
	for {
		select {
		case m := <-ch:
			m.Ack()
			if m.UUID == sentinel.UUID {
				return out
			}
			if m.Metadata.Get("sentinel") == "" {
				out = append(out, m)
			}
		case <-ctx.Done():
			t.Fatalf("topic %s: sentinel not read within 30s", topic)
		}
	}
}
