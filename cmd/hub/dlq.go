package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/lienthong/lienthong/hub"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/router"
	"github.com/lienthong/lienthong/store"
)

const dlqUsage = `usage: hub dlq <list|show|replay|discard> [--config FILE | --data DIR] [flags] [ID…]

  list [filters] [--sort K] [--json]
                                 open entries (or --state …), oldest first unless
                                 --sort id|at|source|dossier|field|state (-K:
                                 descending); never payloads
  show ID… [--json]              every field of the entries, payload included
  replay ID…                     put the entries back through the normal path
  replay --all [filters]         replay every open entry the filters select
  discard ID… --why TEXT         give up on the entries (TEXT is kept in clear in
                                 the dossier's timeline: no personal data)

filters: --source S --dossier ID --field F --reason TEXT (part of the reason, any case)
         --state open|replayed|discarded|all --since T --until T (RFC 3339, or a
         duration ago: 24h) --limit N --offset N

--config FILE works on the hub that file configures; --data DIR (default ./data)
on the data directory of hub dev, whose store it opens with the keys kept there.
replay --data needs hub dev running on DIR: it publishes to its Kafka broker.
`

func runDLQ(ctx context.Context, args []string) error {
	return dlqCommand(ctx, args, os.Stdout, os.Stderr)
}

// dlqCommand runs `hub dlq`, writing results to out and usage to errOut.
func dlqCommand(ctx context.Context, args []string, out, errOut io.Writer) error {
	sub, fs, tgt, err := subcommand("dlq", dlqUsage, "list, show, replay or discard", args, errOut)
	if sub == "" {
		return err
	}
	var (
		f              dlq.Filter
		since, until   string
		all, asJSON    bool
		why            string
		filtersEnabled = sub == "list" || sub == "replay"
	)
	if filtersEnabled {
		fs.StringVar(&f.Source, "source", "", "source (sonla, thainguyen, hatinh)")
		fs.StringVar(&f.DossierID, "dossier", "", "dossier ID")
		fs.StringVar(&f.Field, "field", "", "field")
		fs.StringVar(&f.Reason, "reason", "", "part of the reason, ignoring case")
		fs.StringVar(&since, "since", "", "quarantined at or after (RFC 3339, or a duration ago: 24h)")
		fs.StringVar(&until, "until", "", "quarantined before (RFC 3339, or a duration ago)")
		fs.IntVar(&f.Limit, "limit", 0, "at most N entries")
		fs.IntVar(&f.Offset, "offset", 0, "skip the first N matches")
	}
	switch sub {
	case "list":
		fs.StringVar(&f.State, "state", "", "open (default), replayed, discarded or all")
		fs.StringVar(&f.Sort, "sort", "", "order by "+strings.Join(store.QuarantineSortKeys, ", ")+
			" (default id, oldest first); a - before the key for descending, e.g. -at")
		fs.BoolVar(&asJSON, "json", false, "JSON lines instead of a table")
	case "show":
		fs.BoolVar(&asJSON, "json", false, "JSON instead of text")
	case "replay":
		fs.BoolVar(&all, "all", false, "replay every open entry the filters select")
	case "discard":
		fs.StringVar(&why, "why", "", "why the entries are given up (required; no personal data)")
	default:
		fmt.Fprint(errOut, dlqUsage)
		return fmt.Errorf("dlq: unknown command %q", sub)
	}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dlq %s: %w", sub, err)
	}
	if err := tgt.check("dlq " + sub); err != nil {
		return err
	}
	now := time.Now()
	if since != "" {
		if f.Since, err = dlq.ParseTime(since, now); err != nil {
			return fmt.Errorf("dlq %s: --since: %w", sub, err)
		}
	}
	if until != "" {
		if f.Until, err = dlq.ParseTime(until, now); err != nil {
			return fmt.Errorf("dlq %s: --until: %w", sub, err)
		}
	}
	ids := make([]int64, 0, len(pos))
	for _, p := range pos {
		id, err := strconv.ParseInt(p, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("dlq %s: %q is not an entry ID", sub, p)
		}
		ids = append(ids, id)
	}
	filtered := false
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "source", "dossier", "field", "reason", "since", "until", "limit", "offset", "state":
			filtered = true
		}
	})
	switch {
	case sub == "list" && len(ids) > 0:
		return errors.New("dlq list: takes filters, not IDs (see show)")
	case (sub == "show" || sub == "discard") && len(ids) == 0:
		return fmt.Errorf("dlq %s: which entry IDs?", sub)
	case sub == "discard" && strings.TrimSpace(why) == "":
		return errors.New("dlq discard: --why TEXT is required")
	case sub == "replay" && all && len(ids) > 0:
		return errors.New("dlq replay: entry IDs or --all, not both")
	case sub == "replay" && !all && len(ids) == 0:
		return errors.New("dlq replay: which entry IDs? (or --all [filters])")
	case sub == "replay" && !all && filtered:
		return errors.New("dlq replay: filters go with --all")
	}

	cfg, keys, err := tgt.load("dlq " + sub)
	if err != nil {
		return err
	}
	if sub == "replay" && tgt.dev() {
		// Checked first: nothing is marked replayed that cannot be published.
		if cfg.Kafka.Brokers, err = devKafka("dlq replay", tgt.data); err != nil {
			return err
		}
	}
	hst, err := hub.OpenStore(ctx, cfg.Store, keys)
	if err != nil {
		return err
	}
	defer hst.Close()
	st, ok := hst.(dlq.Store)
	if !ok {
		return fmt.Errorf("dlq: store %T has no quarantine operations", hst)
	}
	instance := cfg.Instance
	if instance == "" {
		instance = "hub"
	}
	topics := router.Topics{Prefix: cfg.Kafka.TopicPrefix}

	if sub != "replay" {
		svc := dlq.New(st, nil, topics, instance)
		switch sub {
		case "list":
			return dlqList(ctx, svc, f, asJSON, out)
		case "show":
			return dlqShow(ctx, svc, ids, asJSON, out)
		default:
			return dlqEach(ids, "discarded", out, func(id int64) error { return svc.Discard(ctx, id, why) })
		}
	}
	// Sealed like everything the hub publishes.
	pub, err := hub.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		return fmt.Errorf("dlq replay: %w", err)
	}
	defer pub.Close()
	svc := dlq.New(st, pub, topics, instance)
	if all {
		n, err := svc.ReplayAll(ctx, f)
		fmt.Fprintf(out, "replayed %d entries\n", n)
		return err
	}
	return dlqEach(ids, "replayed", out, func(id int64) error { return svc.Replay(ctx, id) })
}

// parseInterleaved parses flags placed before, between and after the
// positional arguments, which it returns.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// dlqEach runs op on every ID, reporting each, and fails if any failed.
func dlqEach(ids []int64, done string, out io.Writer, op func(id int64) error) error {
	var errs []error
	for _, id := range ids {
		if err := op(id); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "%s entry %d\n", done, id)
	}
	return errors.Join(errs...)
}

func dlqList(ctx context.Context, svc *dlq.Service, f dlq.Filter, asJSON bool, out io.Writer) error {
	items, err := svc.List(ctx, f)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		return nil
	}
	// No payloads here, ever: a list is for finding records, and only show
	// prints the one an operator asks for.
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME (UTC)\tSOURCE\tDOSSIER\tVERSION\tFIELD\tSTATE\tREASON")
	for _, it := range items {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", it.ID, it.At.UTC().Format(time.DateTime),
			cell(it.Source, 20), cell(it.DossierID, 40), it.Version, cell(it.Field, 24), it.State, cell(it.Reason, 80))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = dlq.DefaultLimit
	}
	listed(out, len(items), limit, f.Offset)
	return nil
}

// listed ends a table of n entries listed with limit and offset, saying
// how to see the next ones when there may be more.
func listed(out io.Writer, n, limit, offset int) {
	if n == limit {
		fmt.Fprintf(out, "%d entries shown; there may be more: --offset %d\n", n, offset+n)
	} else {
		fmt.Fprintf(out, "%d entries\n", n)
	}
}

func dlqShow(ctx context.Context, svc *dlq.Service, ids []int64, asJSON bool, out io.Writer) error {
	var errs []error
	for i, id := range ids {
		e, err := svc.Show(ctx, id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The payload holds personal data (names, identity numbers,
		// addresses): show prints it because the operator asked for this
		// record, to see why it was refused.
		if asJSON {
			if err := json.NewEncoder(out).Encode(dlq.DetailOf(e)); err != nil {
				return err
			}
			continue
		}
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "ID:       %d\nState:    %s\nAt:       %s\nSource:   %s\nDossier:  %s\nVersion:  %d\nFormat:   %s\nField:    %s\nReason:   %s\n",
			e.ID, e.State, e.At.UTC().Format(time.RFC3339Nano), printable(e.Source), printable(e.DossierID), e.Version,
			printable(e.Format), printable(e.Field), printable(e.Reason))
		if isText(e.Payload) {
			fmt.Fprintf(out, "Payload:  %d bytes, text\n%s", len(e.Payload), e.Payload)
			if len(e.Payload) > 0 && e.Payload[len(e.Payload)-1] != '\n' {
				fmt.Fprintln(out)
			}
			continue
		}
		fmt.Fprintf(out, "Payload:  %d bytes, base64 (not printable text)\n", len(e.Payload))
		b64 := base64.StdEncoding.EncodeToString(e.Payload)
		for len(b64) > 76 {
			fmt.Fprintln(out, b64[:76])
			b64 = b64[76:]
		}
		if b64 != "" {
			fmt.Fprintln(out, b64)
		}
	}
	return errors.Join(errs...)
}

// isText reports whether b prints safely on a terminal as it is: UTF-8 with
// no control characters but tabs and line ends (no escape sequences from a
// source's record reach the operator's terminal).
func isText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' {
			return false
		}
	}
	return true
}

// printable is s with control characters (line ends included) shown as
// spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// cell is s for a table cell: printable, one line, at most n runes.
func cell(s string, n int) string {
	s = strings.Join(strings.Fields(printable(s)), " ")
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n-1]) + "…"
	}
	return s
}

// subcommand reads the sub-command of `hub <cmd> <sub> [flags]` and gives it
// a flag set with --config and --data. sub is "" when there is none to run:
// err then says why, or is nil after -h printed the usage.
func subcommand(cmd, usage, subs string, args []string, errOut io.Writer) (sub string, fs *flag.FlagSet, tgt *target, err error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(errOut, usage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return "", nil, nil, nil
		}
		return "", nil, nil, fmt.Errorf("%s: %s?", cmd, subs)
	}
	sub = args[0]
	fs = flag.NewFlagSet(cmd+" "+sub, flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.Usage = func() { fmt.Fprint(errOut, usage) }
	return sub, fs, addTarget(fs), nil
}
