package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/lienthong/lienthong/ops/api"
	"github.com/lienthong/lienthong/ops/dlq"
	"github.com/lienthong/lienthong/ops/export"
	"github.com/lienthong/lienthong/store"
)

const auditListUsage = `usage: hub audit list [--config FILE | --data DIR] [flags]

  list   the audit log of operations (replays, discards, tokens), oldest first

flags: --since T --until T (RFC 3339, or a duration ago: 24h) --actor TOKEN-ID
       --action ACTION (e.g. quarantine.replay) --limit N --offset N
       --format table|csv|json (default table; json is one entry a line;
       csv is UTF-8 with a byte-order mark, for Excel, times in Vietnam's zone)

--limit is 100 by default, and 100000 with --format csv. --config FILE works
on the hub that file configures; --data DIR (default ./data) on the data
directory of hub dev.
`

// auditStore is what hub audit list needs of the store.
type auditStore interface {
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

// auditListCommand runs `hub audit list` (args[0] is "list").
func auditListCommand(ctx context.Context, args []string, out, errOut io.Writer) error {
	_, fs, tgt, err := subcommand("audit", auditListUsage, "list", args, errOut)
	if fs == nil {
		return err
	}
	var (
		f             store.AuditFilter
		since, until  string
		format        string
		limit, offset int
	)
	fs.StringVar(&since, "since", "", "at or after (RFC 3339, or a duration ago: 24h)")
	fs.StringVar(&until, "until", "", "before (RFC 3339, or a duration ago)")
	fs.StringVar(&f.TokenID, "actor", "", "the ID of the token that asked")
	fs.StringVar(&f.Action, "action", "", "what was asked, e.g. quarantine.replay")
	fs.IntVar(&limit, "limit", 0, "at most N entries (default 100; 100000 with --format csv)")
	fs.IntVar(&offset, "offset", 0, "skip the first N matches")
	fs.StringVar(&format, "format", "table", "table, csv or json")
	if err := fs.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("audit list: takes flags only, not %q", fs.Arg(0))
	case format != "table" && format != "csv" && format != "json":
		return fmt.Errorf("audit list: --format %q: want table, csv or json", format)
	case limit < 0 || offset < 0:
		return errors.New("audit list: --limit and --offset take 0 or more")
	}
	now := time.Now()
	if since != "" {
		if f.Since, err = dlq.ParseTime(since, now); err != nil {
			return fmt.Errorf("audit list: --since: %w", err)
		}
	}
	if until != "" {
		if f.Until, err = dlq.ParseTime(until, now); err != nil {
			return fmt.Errorf("audit list: --until: %w", err)
		}
	}
	f.Limit, f.Offset = limit, offset
	if f.Limit == 0 {
		f.Limit = 100
		if format == "csv" {
			f.Limit = export.MaxRows
		}
	}

	st, closeStore, err := openStoreAs[auditStore](ctx, tgt, "audit list", "no audit log")
	if err != nil {
		return err
	}
	defer closeStore()
	entries, err := st.ListAudit(ctx, f)
	if err != nil {
		return fmt.Errorf("audit list: %w", err)
	}
	switch format {
	case "csv":
		return export.Encode(out, api.AuditCSVHeader, api.AuditRows(entries))
	case "json":
		enc := json.NewEncoder(out)
		for _, e := range entries {
			if err := enc.Encode(api.AuditItemOf(e)); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME (UTC)\tTOKEN\tROLE\tPROVINCE\tACTION\tTARGET\tOUTCOME\tDETAIL")
	for _, e := range entries {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.UTC().Format(time.DateTime),
			cell(e.TokenID, 24), cell(e.Role, 12), cell(e.Province, 4), cell(e.Action, 32), cell(e.Target, 40),
			cell(e.Outcome, 10), cell(e.Detail, 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	listed(out, len(entries), f.Limit, f.Offset)
	return nil
}
