package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/reconcile"
	"github.com/lienthong/lienthong/store"
)

// runReconcile is `hub reconcile`: one pass comparing the ledger with the
// national portal (TraCuuHoSo), each drifted dossier printed and recorded
// for the console, optionally resynced. It fails when it found drift, so
// that a script or a cron job notices.
func runReconcile(ctx context.Context, args []string) error {
	return reconcileCommand(ctx, args, os.Stdout, os.Stderr)
}

func reconcileCommand(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(errOut)
	t := addTarget(fs)
	sources := fs.String("source", "", "only these sources (comma-separated; default every configured source)")
	limit := fs.Int("limit", 0, "check at most N dossiers (default all)")
	rate := fs.Float64("rate", 0, "lookups a second at the national portal (default reconcile.rate, else 2)")
	resync := fs.Bool("resync", false, "send each drifted dossier through the pipeline again (publishes to Kafka)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	cfg, err := t.running("reconcile")
	if err != nil {
		return err
	}
	o := hub.ReconcileOptions{Limit: *limit, Rate: *rate, Resync: *resync}
	if *sources != "" {
		for _, s := range strings.Split(*sources, ",") {
			if _, ok := cfg.Source(strings.TrimSpace(s)); !ok {
				return fmt.Errorf("reconcile: --source %q is not a configured source", s)
			}
			o.Sources = append(o.Sources, strings.TrimSpace(s))
		}
	}
	st, err := hub.OpenConfiguredStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, err := hub.Reconcile(ctx, cfg, st, o, func(r reconcile.Result, err error) {
		switch {
		case err != nil:
			fmt.Fprintf(out, "%s\t%s\terror\t%v\n", r.DossierID, r.Source, err)
		case r.Drift != nil:
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\t%s\n", r.DossierID, r.Source, r.Drift.Kind, strings.Join(r.Drift.Fields, " "), r.Drift.Detail)
		}
	})
	drifted := printDrift(out, rep)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	if drifted > 0 {
		what := "recorded for the operators (see /api/drift, or run again with --resync)"
		if *resync {
			what = "sent through the pipeline again"
		}
		return fmt.Errorf("reconcile: %d dossiers drifted from the ledger; %s", drifted, what)
	}
	return nil
}

// printDrift prints a line per source with its counts, and returns how
// many dossiers drifted.
func printDrift(w io.Writer, rep reconcile.Report) (drifted int) {
	names := make([]string, 0, len(rep))
	for s := range rep {
		names = append(names, s)
	}
	slices.Sort(names)
	for _, s := range names {
		var parts []string
		for _, k := range append([]string{"ok", "in_flight", "skipped", "error"}, store.DriftKinds...) {
			if n := rep[s][k]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", k, n))
				if slices.Contains(store.DriftKinds, k) {
					drifted += n
				}
			}
		}
		fmt.Fprintf(w, "%s: %s\n", s, strings.Join(parts, ", "))
	}
	return drifted
}
