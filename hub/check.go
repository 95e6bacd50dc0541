package hub

import (
	"context"
	"fmt"
	"slices"
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
