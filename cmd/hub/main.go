// Command hub is the lienthong interop hub: it pulls dossiers from provincial
// portals and syncs them, normalised and in order, to the national portal.
//
//	hub dev                  everything in one process: embedded Kafka, SQLite, simulators
//	hub serve --config FILE  against external Kafka and PostgreSQL
//	hub migrate --config FILE
//	hub bench                end-to-end dossiers per second on a generated load
//	hub dlq list|show|replay|discard --config FILE   quarantine operations
//	hub token create|list|revoke --config FILE       API tokens
//	hub audit list --config FILE                     the audit log of operations
//	hub audit verify|export --config FILE            tamper-evident trail
//	hub check --config FILE [--source NAME]          try a portal before it goes live
//	hub validate [--config FILE] [--connect]         check a configuration, reporting every problem
//	hub version                                      version, commit and date of this binary
//
// migrate, dlq, token and audit also take --data DIR instead of --config:
// the data directory of hub dev (./data when neither is given); so do check
// and reconcile while hub dev runs there.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	// Every log line goes to stderr as JSON, the final error below too
	// (except an operator command's), and so does anything a library prints
	// through the standard log package: whoever collects hub serve's log
	// then reads one format.
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "dev":
		err = runDev(ctx, os.Args[2:])
	case "serve":
		err = runServe(ctx, os.Args[2:])
	case "migrate":
		err = runMigrate(ctx, os.Args[2:])
	case "bench":
		err = runBench(ctx, os.Args[2:])
	case "dlq":
		err = runDLQ(ctx, os.Args[2:])
	case "token":
		err = runToken(ctx, os.Args[2:])
	case "audit":
		err = runAudit(ctx, os.Args[2:])
	case "check":
		err = runCheck(ctx, os.Args[2:])
	case "validate":
		err = runValidate(ctx, os.Args[2:])
	case "reconcile":
		err = runReconcile(ctx, os.Args[2:])
	case "version", "--version", "-version":
		printVersion()
		return
	case "-h", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		if operatorCommands[os.Args[1]] {
			// Someone at a terminal (or a script) reads this, not a log
			// collector: a sentence, not a JSON record.
			fmt.Fprintln(os.Stderr, "hub: "+err.Error())
		} else {
			slog.Error("hub failed", "error", err.Error())
		}
		os.Exit(1)
	}
}

// operatorCommands are run by hand or from scripts and end with a plain
// error line; the long-running ones (dev, serve, bench, migrate) log it as
// JSON like the rest of their log.
var operatorCommands = map[string]bool{"dlq": true, "token": true, "audit": true, "check": true, "validate": true, "reconcile": true}

func usage() {
	fmt.Fprint(os.Stderr, `usage: hub <command> [flags]

commands:
  dev       run everything in one process: embedded Kafka broker and SQLite store
            under a data directory, five simulated provinces generating load, and the hub
  serve     run against external Kafka brokers and PostgreSQL: hub serve [--config FILE]
            (LIENTHONG_<SECTION>_<KEY> environment variables override the file's settings,
            or stand for it)
  migrate   apply the store's migrations: hub migrate --config FILE
  bench     sync a generated load end to end and print dossiers per second
  dlq       quarantined records: hub dlq list|show|replay|discard --config FILE
            (list and filter them, show one with its payload, replay them through
            the normal path after a fix, or discard them)
  token     API tokens: hub token create|list|revoke --config FILE
            (create one with a role, national, provincial --province CODE or
            postal, its secret printed once; list them; revoke one)
  audit     the audit log of operations: hub audit list --config FILE [--since T --until T
            --actor TOKEN --action A --limit N --offset N --format table|csv|json];
            the tamper-evident trail: hub audit verify|export --config FILE
            (recompute its hash chains and check its signed heads; export it
            for an auditor, who checks it with cmd/trailverify)
  check     try provincial portals before they go live: hub check --config FILE|--data DIR [--source NAME]
            (log in, read the first page of changes and map it, publishing nothing;
            every record that cannot be mapped is listed with its field)
  reconcile compare the ledger with the national portal (TraCuuHoSo), dossier by dossier:
            hub reconcile --config FILE|--data DIR [--source A,B --limit N --rate R --resync]
            (each drifted dossier is printed and recorded for the console; --resync sends
            it through the pipeline again; exits 1 when it found drift)
  validate  check a configuration as hub serve would before it starts, listing every problem
            with its setting and line: hub validate [--config FILE] [--connect]
            (--connect also logs in to each source, the national portal, each payment
            partner account and VNPost, changing nothing)
  version   print the version, commit and date of this binary (also --version)

migrate, dlq, token and audit also take --data DIR instead of --config FILE: the
data directory of hub dev (./data when neither is given), e.g. hub dlq list --data ./data.
So do check and reconcile, while hub dev runs on DIR (they call the portals it simulates).

Run "hub <command> -h" for a command's flags.
`)
}
