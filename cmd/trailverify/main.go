// Command trailverify checks an export of the hub's tamper-evident trail
// (`hub audit export --out FILE`) without the hub: it recomputes every
// hash chain and checks every signed head, and exits 1 on any problem. It
// uses the standard library only (through store/trail); the algorithm is
// described in docs/audit-trail.md.
//
//	go run github.com/lienthong/lienthong/cmd/trailverify [--key BASE64]... FILE
//
// --key is a public key the heads may be signed with, as the auditor got
// it from the operator: repeated (or comma-separated) for the keys of
// earlier signing keys, after a rotation. Without it the export's own key
// lines are used, which proves only that the heads were not changed after
// signing. A head signed with another key fails, naming its fingerprint.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/lienthong/lienthong/store/trail"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("trailverify", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var v trail.Verifier
	fs.Func("key", "a public key (base64) the heads may be signed with; repeated or comma-separated", func(s string) error {
		for _, k := range strings.Split(s, ",") {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k))
			if err != nil || len(b) != ed25519.PublicKeySize {
				return fmt.Errorf("want base64 of a 32-byte Ed25519 public key")
			}
			v.Keys = append(v.Keys, b)
		}
		return nil
	})
	fs.Func("now", "the time (RFC 3339) pruned chains are judged at (default: the export's)", func(s string) (err error) {
		v.Now, err = time.Parse(time.RFC3339, s)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(errOut, "usage: trailverify [--key BASE64]... [--now TIME] FILE")
		return 2
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(errOut, "trailverify:", err)
		return 2
	}
	defer f.Close()
	if err := v.ReadExport(f); err != nil {
		fmt.Fprintf(errOut, "trailverify: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	r := v.Report()
	fmt.Fprintln(out, r.Summary())
	for _, p := range r.Problems {
		fmt.Fprintln(out, p)
	}
	if !r.OK() {
		fmt.Fprintf(out, "%d problems\n", len(r.Problems))
		return 1
	}
	fmt.Fprintln(out, "the trail verifies")
	return 0
}
