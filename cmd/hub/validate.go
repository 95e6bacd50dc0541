package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lienthong/lienthong/hub"
)

// runValidate is `hub validate`: every check `hub serve` makes of its
// configuration before it connects to anything, every problem listed with
// its setting and where it was set; with --connect, each endpoint's login
// too.
func runValidate(ctx context.Context, args []string) error {
	return validate(ctx, args, os.Stdout)
}

func validate(ctx context.Context, args []string, w io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ExitOnError)
	path := fs.String("config", "", "configuration file (YAML); without it, the LIENTHONG_* environment variables alone")
	connect := fs.Bool("connect", false, "also log in to every source, the national portal, each payment partner account and VNPost, changing nothing")
	_ = fs.Parse(args)
	cfg, err := hub.LoadConfig(*path)
	var problems hub.Problems
	if err != nil && !errors.As(err, &problems) {
		return err
	}
	var reached []string
	if err == nil && *connect {
		reached, problems = hub.CheckConnections(ctx, cfg)
	}
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	switch len(problems) {
	case 0:
	case 1:
		return errors.New("validate: 1 problem")
	default:
		return fmt.Errorf("validate: %d problems", len(problems))
	}
	fmt.Fprintln(w, summary(*path, cfg, *connect, reached))
	return nil
}

// summary is the one line of a configuration without problems.
func summary(path string, cfg hub.Config, connect bool, reached []string) string {
	if path == "" {
		path = "environment"
	}
	names := make([]string, len(cfg.Sources))
	for i, s := range cfg.Sources {
		names[i] = s.Name
	}
	st := "SQLite"
	if cfg.Store.PostgresDSN != "" {
		st = "PostgreSQL"
	}
	var flows, untried []string
	for _, f := range []struct {
		name    string
		on, try bool
	}{{"payment", cfg.Payment != nil, true}, {"vnpost", cfg.VNPost != nil, true}, {"sms", cfg.SMS != nil, false}, {"smtp", cfg.SMTP != nil, false}} {
		if f.on {
			flows = append(flows, f.name)
			if !f.try {
				untried = append(untried, f.name)
			}
		}
	}
	s := fmt.Sprintf("%s: ok: %d sources (%s), %d Kafka brokers, %s store", path, len(names), strings.Join(names, ", "), len(cfg.Kafka.Brokers), st)
	if len(flows) > 0 {
		s += ", level 4: " + strings.Join(flows, ", ")
	}
	if connect {
		s += "; reached " + strings.Join(reached, ", ")
		if len(untried) > 0 {
			// Neither offers a call that sends nothing.
			s += " (" + strings.Join(untried, " and ") + " not tried)"
		}
	}
	return s
}
