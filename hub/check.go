package hub

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lienthong/lienthong/connectors/httpx"
)

// SourceCheck is what CheckSources found at one portal.
type SourceCheck struct {
	Source  string
	Err     error   // login or reading failed: nothing was mapped
	Records int     // records on the first page
	Mapped  int     // of which mapped to canonical dossiers
	Failed  []error // one *mapping.FieldError per record that could not be mapped
	More    bool    // the portal has more than the first page
}

// CheckSources logs in to each named source (all when names is empty),
// reads the first page of its changes and maps every record on it. It
// publishes nothing and stores nothing: it is how a provincial portal is
// checked before it goes live.
func CheckSources(ctx context.Context, cfg Config, names ...string) ([]SourceCheck, error) {
	for _, n := range names {
		if _, ok := cfg.Source(n); !ok {
			return nil, fmt.Errorf("no source named %q in the configuration", n)
		}
	}
	mapper, err := cfg.Mapper()
	if err != nil {
		return nil, err
	}
	h := New(cfg, nil, nil, nil)
	sources, err := h.sources()
	if err != nil {
		return nil, err
	}
	var out []SourceCheck
	for _, src := range sources {
		if len(names) > 0 && !slices.Contains(names, src.name) {
			continue
		}
		c := SourceCheck{Source: src.name}
		page, err := src.pull(ctx, nil)
		if err != nil {
			c.Err = err
			out = append(out, c)
			continue
		}
		c.Records, c.More = len(page.Records), page.More
		for _, rec := range page.Records {
			if _, err := mapper.Normalize(rec); err != nil {
				c.Failed = append(c.Failed, err)
				continue
			}
			c.Mapped++
		}
		out = append(out, c)
	}
	return out, nil
}

// CheckConnections tries every endpoint of a valid configuration, logging in
// or making the cheapest call that proves the credentials, and changes
// nothing anywhere: each source as CheckSources does; the national portal
// as each source's unit (a login and a lookup of a dossier that cannot
// exist); each
// payment partner account (a query for a reference the platform cannot
// know, which it answers "unknown" only once the signature and partner code
// are accepted); VNPost (one tracking event). The SMS gateway and the SMTP
// relay are not tried: neither offers a call that sends nothing. It returns
// the endpoints reached and the problems, each under its setting.
func CheckConnections(ctx context.Context, cfg Config) (reached []string, problems Problems) {
	var ps []Problem
	failed := map[string]bool{}
	try := func(key, endpoint string, err error) {
		if !slices.Contains(reached, endpoint) {
			reached = append(reached, endpoint)
		}
		if err != nil {
			ps = append(ps, Problem{key: key, Msg: err.Error()})
			failed[endpoint] = true
		}
	}
	checks, err := CheckSources(ctx, cfg)
	if err != nil {
		return nil, cfg.locate([]Problem{{key: "sources", Msg: err.Error()}})
	}
	for _, c := range checks {
		i := slices.IndexFunc(cfg.Sources, func(s SourceConfig) bool { return s.Name == c.Source })
		try(fmt.Sprintf("sources[%d]", i), c.Source, c.Err)
	}
	h := New(cfg, nil, nil, nil)
	portal, err := h.nationalClient()
	if err != nil {
		try("national", endpointNational, err)
	}
	// A login per unit; after a failure, likely the credentials, the others
	// would only repeat it.
	units := map[string]bool{}
	for _, s := range cfg.Sources {
		if u := unitOf(s); portal != nil && !units[u.DstCode] && !failed[endpointNational] {
			units[u.DstCode] = true
			_, err := portal.Lookup(ctx, u, "LIENTHONG-VALIDATE")
			if err != nil {
				err = fmt.Errorf("unit %s: %w", u.DstCode, err)
			}
			try("national", endpointNational, err)
		}
	}
	for i, s := range cfg.Sources {
		if cfg.Payment == nil || s.Payment == nil {
			continue
		}
		cl, err := h.paymentClient(*s.Payment)
		if err == nil {
			_, err = cl.Query(ctx, "LIENTHONG-VALIDATE-"+strconv.FormatInt(time.Now().UnixNano(), 36))
			if errors.Is(err, httpx.ErrNotFound) {
				err = nil
			}
		}
		try(fmt.Sprintf("sources[%d].payment", i), endpointPayment, err)
	}
	if cfg.VNPost != nil {
		cl, err := h.vnpostClient()
		if err == nil {
			_, _, err = cl.Tracking(ctx, 0, 1)
		}
		try("vnpost", endpointVNPost, err)
	}
	reached = slices.DeleteFunc(reached, func(e string) bool { return failed[e] })
	return reached, cfg.locate(ps)
}
