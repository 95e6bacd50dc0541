package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/lienthong/lienthong/hub"
)

// runCheck is `hub check`: log in to each configured portal (or one), read
// the first page of its changes and map it, publishing nothing; every
// record that cannot be mapped is listed with its field.
func runCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	t := addTarget(fs)
	source := fs.String("source", "", "check only this source (default: every configured source)")
	_ = fs.Parse(args)
	cfg, err := t.running("check")
	if err != nil {
		return err
	}
	var names []string
	if *source != "" {
		names = []string{*source}
	}
	checks, err := hub.CheckSources(ctx, cfg, names...)
	if err != nil {
		return err
	}
	if bad := printChecks(os.Stdout, cfg, checks); bad > 0 {
		return fmt.Errorf("check: %d of %d sources have problems", bad, len(checks))
	}
	return nil
}

// printChecks reports each check and returns how many had a problem.
func printChecks(w io.Writer, cfg hub.Config, checks []hub.SourceCheck) (bad int) {
	for _, c := range checks {
		sc, _ := cfg.Source(c.Source)
		fmt.Fprintf(w, "%s (%s, province %s, %s): ", c.Source, sc.Kind, sc.Province, sc.BaseURL)
		if c.Err != nil {
			bad++
			fmt.Fprintf(w, "FAILED: %v\n", c.Err)
			continue
		}
		more := ""
		if c.More {
			more = ", more follow"
		}
		fmt.Fprintf(w, "logged in, read %d records (first page%s), %d mapped", c.Records, more, c.Mapped)
		if len(c.Failed) == 0 {
			fmt.Fprintln(w, ": OK")
			continue
		}
		bad++
		fmt.Fprintf(w, ", %d could not be mapped:\n", len(c.Failed))
		for _, e := range c.Failed {
			fmt.Fprintf(w, "  %v\n", e)
		}
	}
	return bad
}
