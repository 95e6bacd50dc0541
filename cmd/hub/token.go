package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lienthong/lienthong/ops/auth"
	"github.com/lienthong/lienthong/store"
)

const tokenUsage = `usage: hub token <create|list|revoke> [--config FILE | --data DIR] [flags] [ID…]

  create --role ROLE [--province CODE] --name TEXT
                   make an API token and print its secret, once: the store
                   keeps only its hash, so a lost secret is replaced, not
                   recovered. ROLE is national (every province), provincial
                   (one province: --province, its national code such as 14,
                   19, 42) or postal (deliveries only). TEXT says who holds it
                   (stored in clear).
  list             every token: id, name, role, province, created, last used,
                   revoked; never a secret
  revoke ID…       refuse the tokens from their next request on

create and revoke are written to the audit log. --config FILE works on the
hub that file configures; --data DIR (default ./data) on the data directory
of hub dev, whose store it opens with the keys kept there.
`

// tokenStore is what `hub token` needs of the store.
type tokenStore interface {
	CreateToken(ctx context.Context, t store.APIToken) error
	ListTokens(ctx context.Context) ([]store.APIToken, error)
	RevokeToken(ctx context.Context, id string) error
	auth.AuditStore
}

func runToken(ctx context.Context, args []string) error {
	return tokenCommand(ctx, args, os.Stdout, os.Stderr)
}

// tokenCommand runs `hub token`, writing results to out and usage to
// errOut.
func tokenCommand(ctx context.Context, args []string, out, errOut io.Writer) error {
	sub, fs, tgt, err := subcommand("token", tokenUsage, "create, list or revoke", args, errOut)
	if sub == "" {
		return err
	}
	var role, province, name string
	switch sub {
	case "create":
		fs.StringVar(&role, "role", "", "national, provincial or postal")
		fs.StringVar(&province, "province", "", "national province code of a provincial token (14, 19, 42…)")
		fs.StringVar(&name, "name", "", "who holds the token (stored in clear)")
	case "list", "revoke":
	default:
		fmt.Fprint(errOut, tokenUsage)
		return fmt.Errorf("token: unknown command %q", sub)
	}
	pos, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("token %s: %w", sub, err)
	}
	if err := tgt.check("token " + sub); err != nil {
		return err
	}
	switch {
	case sub != "revoke" && len(pos) > 0:
		return fmt.Errorf("token %s: unexpected arguments %q", sub, pos)
	case sub == "revoke" && len(pos) == 0:
		return errors.New("token revoke: which token IDs?")
	case sub == "create":
		if err := checkCreate(role, province, name); err != nil {
			return err
		}
	}
	for _, id := range pos {
		if strings.TrimSpace(id) == "" {
			return errors.New("token revoke: empty token ID")
		}
	}

	st, closeStore, err := openStoreAs[tokenStore](ctx, tgt, "token "+sub, "no API tokens")
	if err != nil {
		return err
	}
	defer closeStore()
	switch sub {
	case "create":
		return tokenCreate(ctx, st, role, province, name, out)
	case "list":
		return tokenList(ctx, st, out)
	default:
		return tokenRevoke(ctx, st, pos, out)
	}
}

// checkCreate refuses, before anything is opened, what create cannot make.
func checkCreate(role, province, name string) error {
	switch {
	case role == "":
		return errors.New("token create: --role national|provincial|postal is required")
	case !store.ValidRole(role):
		return fmt.Errorf("token create: --role %q: want national, provincial or postal", role)
	case role == store.RoleProvincial && province == "":
		return errors.New("token create: a provincial token needs --province CODE (14, 19, 42…)")
	case role == store.RoleProvincial && !store.ValidProvinceCode(province):
		return fmt.Errorf("token create: --province %q: want a national province code, two digits (14, 19, 42…)", province)
	case role != store.RoleProvincial && province != "":
		return fmt.Errorf("token create: a %s token covers no single province: drop --province", role)
	case strings.TrimSpace(name) == "":
		return errors.New("token create: --name TEXT is required (who holds the token)")
	}
	return nil
}

// cliAudit records an operation done from the command line: no token asked
// for it.
func cliAudit(ctx context.Context, st auth.AuditStore, action, target, detail string) error {
	return auth.Audit(ctx, st, auth.Principal{}, action, target, "hub token (command line): "+detail, auth.OutcomeOK)
}

func tokenCreate(ctx context.Context, st tokenStore, role, province, name string, out io.Writer) error {
	secret, tok, err := auth.NewToken(role, province, strings.TrimSpace(name))
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	scope := "all provinces"
	switch role {
	case store.RoleProvincial:
		scope = "province " + province
	case store.RolePostal:
		scope = "deliveries only"
	}
	fmt.Fprintf(out, "created token %s (%s, %s) for %s\n", tok.ID, role, scope, printable(tok.Name))
	fmt.Fprintln(out, "secret, shown this once (only its hash is stored; send it as \"Authorization: Bearer <secret>\"):")
	fmt.Fprintln(out, secret)
	detail := "role " + role
	if province != "" {
		detail += ", province " + province
	}
	if err := cliAudit(ctx, st, auth.ActionTokenCreate, tok.ID, detail); err != nil {
		return fmt.Errorf("token create: token %s created, but: %w", tok.ID, err)
	}
	return nil
}

func tokenList(ctx context.Context, st tokenStore, out io.Writer) error {
	toks, err := st.ListTokens(ctx)
	if err != nil {
		return err
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.DateTime)
	}
	// Never a secret (the store has none) nor a hash.
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tPROVINCE\tCREATED (UTC)\tLAST USED (UTC)\tREVOKED (UTC)")
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(t.ID, 24), cell(t.Name, 40), cell(t.Role, 12), cell(t.Province, 4),
			when(t.CreatedAt), when(t.LastUsedAt), when(t.RevokedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d tokens\n", len(toks))
	return nil
}

func tokenRevoke(ctx context.Context, st tokenStore, ids []string, out io.Writer) error {
	toks, err := st.ListTokens(ctx)
	if err != nil {
		return err
	}
	byID := make(map[string]store.APIToken, len(toks))
	for _, t := range toks {
		byID[t.ID] = t
	}
	var errs []error
	for _, id := range ids {
		t, ok := byID[id]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("token revoke %s: %w", printable(id), store.ErrNotFound))
			continue
		case t.Revoked():
			fmt.Fprintf(out, "token %s was already revoked at %s\n", id, t.RevokedAt.UTC().Format(time.DateTime))
			continue
		}
		if err := st.RevokeToken(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(out, "revoked token %s\n", id)
		if err := cliAudit(ctx, st, auth.ActionTokenRevoke, id, "revoked"); err != nil {
			errs = append(errs, fmt.Errorf("token revoke: token %s revoked, but: %w", id, err))
		}
	}
	return errors.Join(errs...)
}
