package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/store/trail"
)

const auditUsage = `usage: hub audit <list|verify|export> [--config FILE | --data DIR] [flags]

  list             the audit log of operations, filtered (hub audit list -h)
  verify           recompute every chain of the tamper-evident trail (the
                   audit log; each dossier's provenance events) and check
                   every signed head; print what was checked and every entry
                   altered, removed or reordered; exit 1 on any
  export --out FILE
                   write the trail (audit entries, events, signed heads, the
                   chain heads they cover and the trusted public keys) as
                   JSON Lines, which cmd/trailverify checks without the hub
                   (docs/audit-trail.md)

--config FILE works on the hub that file configures; --data DIR (default
./data) on the data directory of hub dev. Signatures are checked with the
public key of store.signing_key and those of store.trail_previous_keys; a
head signed with another key fails, naming its fingerprint.
`

// trailStore is what `hub audit` needs of the store.
type trailStore interface {
	VerifyTrail(ctx context.Context, trusted []ed25519.PublicKey) (trail.Report, error)
	ReadTrail(ctx context.Context, fn func(trail.Record) error) error
}

func runAudit(ctx context.Context, args []string) error {
	return auditCommand(ctx, args, os.Stdout, os.Stderr)
}

// errTampered is verify's error when it found problems (already printed).
var errTampered = errors.New("audit verify: the trail does not verify")

// auditCommand runs `hub audit`, writing results to out and usage to errOut.
func auditCommand(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) > 0 && args[0] == "list" {
		return auditListCommand(ctx, args, out, errOut)
	}
	sub, fs, tgt, err := subcommand("audit", auditUsage, "verify or export", args, errOut)
	if sub == "" {
		return err
	}
	var outPath string
	switch sub {
	case "verify":
	case "export":
		fs.StringVar(&outPath, "out", "", "file to write the export to")
	default:
		fmt.Fprint(errOut, auditUsage)
		return fmt.Errorf("audit: unknown command %q", sub)
	}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit %s: %w", sub, err)
	}
	if len(pos) > 0 {
		return fmt.Errorf("audit %s: unexpected arguments %q", sub, pos)
	}
	if sub == "export" && outPath == "" {
		return errors.New("audit export: --out FILE is required")
	}
	cfg, keys, err := tgt.load("audit " + sub)
	if err != nil {
		return err
	}
	trusted := keys.TrustedTrailKeys()
	hst, err := hub.OpenStore(ctx, cfg.Store, keys)
	if err != nil {
		return err
	}
	defer hst.Close()
	st, ok := hst.(trailStore)
	if !ok {
		return fmt.Errorf("audit: store %T keeps no trail", hst)
	}
	if sub == "export" {
		return auditExport(ctx, st, trusted, outPath, out)
	}
	return auditVerify(ctx, st, trusted, out)
}

func auditVerify(ctx context.Context, st trailStore, trusted []ed25519.PublicKey, out io.Writer) error {
	r, err := st.VerifyTrail(ctx, trusted)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	return printReport(r, out)
}

// printReport prints what r checked and found; errTampered if anything.
func printReport(r trail.Report, out io.Writer) error {
	fmt.Fprintln(out, r.Summary())
	for _, p := range r.Problems {
		fmt.Fprintln(out, p)
	}
	if !r.OK() {
		fmt.Fprintf(out, "%d problems\n", len(r.Problems))
		return errTampered
	}
	fmt.Fprintln(out, "the trail verifies")
	return nil
}

func auditExport(ctx context.Context, st trailStore, trusted []ed25519.PublicKey, path string, out io.Writer) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("audit export: %w", cerr)
		}
	}()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	n := 0
	// When: verification judges pruned chains against it.
	if err := enc.Encode(trail.Record{Type: "export", At: time.Now().UnixMicro()}); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	for _, k := range trusted {
		if err := enc.Encode(trail.Record{Type: "key", PublicKey: k}); err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
	}
	if err := st.ReadTrail(ctx, func(r trail.Record) error { n++; return enc.Encode(r) }); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	fmt.Fprintf(out, "exported %d records to %s; check it with: go run github.com/lienthong/lienthong/cmd/trailverify %s\n", n, path, path)
	return nil
}
