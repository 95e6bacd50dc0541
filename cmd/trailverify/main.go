// Command trailverify checks an export of the hub's tamper-evident trail
// (`hub audit export --out FILE`) without the hub: it recomputes every
// hash chain and checks every signed head, and exits 1 on any problem. It
// uses the standard library only (through store/trail); the algorithm is
// described in docs/audit-trail.md.
//
//	go run github.com/lienthong/lienthong/cmd/trailverify [--key BASE64] FILE
//
// --key is the public key the heads must be signed with, as the auditor
// got it from the operator; without it the export's own key line is used,
// which proves only that the heads were not changed after signing.
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/lienthong/lienthong/store/trail"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("trailverify", flag.ContinueOnError)
	fs.SetOutput(errOut)
	key := fs.String("key", "", "public key (base64) the heads must be signed with")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(errOut, "usage: trailverify [--key BASE64] FILE")
		return 2
	}
	var v trail.Verifier
	if *key != "" {
		k, err := base64.StdEncoding.DecodeString(*key)
		if err != nil || len(k) != ed25519.PublicKeySize {
			fmt.Fprintln(errOut, "trailverify: --key: want base64 of a 32-byte Ed25519 public key")
			return 2
		}
		v.Key = k
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
