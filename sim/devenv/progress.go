package devenv

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lienthong/lienthong/schemas"
	"github.com/lienthong/lienthong/sim/simctl"
)

// Ledger is what Behind reads of the hub's store.
type Ledger interface {
	HeldVersions(ctx context.Context, ids []string) (map[string]int64, error)
}

// Book returns the change book of a provincial simulator.
func (s *Sims) Book(source string) *simctl.Book {
	if p, ok := s.portals[source]; ok {
		return p.Book()
	}
	return nil
}

// Sync is how far the hub is behind the portals.
type Sync struct {
	Dossiers int // live dossiers at the portals
	Synced   int // of which the national portal holds the final version
	Pending  int // lifecycle changes the simulators have yet to make
}

// Dossier is one dossier at a simulated portal.
type Dossier struct {
	Source, ID string
	// Final is the version the hub gives its last change: the portal's
	// version, or for a change feed the SEQ of its last entry.
	Final   int64
	Deleted bool // deleted at the source (created in error)
}

// Dossiers lists every dossier at the portals, in order of source and
// creation, and counts the lifecycle changes still to come.
func (s *Sims) Dossiers() (list []Dossier, pending int) {
	for _, p := range s.Portals {
		b := s.Book(p.Name)
		pending += b.Stats().PendingChanges
		_, dossiers := b.List(0, 0)
		for _, d := range dossiers {
			final := int64(d.Version)
			if p.Kind == schemas.KindXMLFeed {
				// The feed orders by SEQ: the hub's version of a change
				// feed's dossier is the SEQ of its last entry.
				hist, _ := b.History(d.MaHoSo)
				if len(hist) > 0 {
					final = hist[len(hist)-1].Seq
				}
			}
			list = append(list, Dossier{Source: p.Name, ID: d.MaHoSo, Final: final, Deleted: d.Deleted})
		}
	}
	return list, pending
}

// Finals maps every live dossier at the portals to the version the hub
// gives its last change, and counts the lifecycle changes still to come.
func (s *Sims) Finals() (finals map[string]int64, pending int) {
	list, pending := s.Dossiers()
	finals = make(map[string]int64, len(list))
	for _, d := range list {
		if !d.Deleted {
			finals[d.ID] = d.Final
		}
	}
	return finals, pending
}

// Pending counts the lifecycle changes the simulators have yet to make.
func (s *Sims) Pending() int {
	n := 0
	for _, p := range s.Portals {
		n += s.Book(p.Name).Stats().PendingChanges
	}
	return n
}

// Unsynced returns those of finals whose version the ledger does not say
// the national portal holds.
func Unsynced(ctx context.Context, l Ledger, finals map[string]int64) (map[string]int64, error) {
	ids := make([]string, 0, len(finals))
	for id := range finals {
		ids = append(ids, id)
	}
	held, err := l.HeldVersions(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	left := map[string]int64{}
	for id, want := range finals {
		if held[id] < want {
			left[id] = want
		}
	}
	return left, nil
}

// Behind compares every live dossier's final version at its portal with
// what the ledger says the national portal acknowledged.
func (s *Sims) Behind(ctx context.Context, l Ledger) (Sync, error) {
	finals, pending := s.Finals()
	left, err := Unsynced(ctx, l, finals)
	if err != nil {
		return Sync{}, err
	}
	return Sync{Dossiers: len(finals), Synced: len(finals) - len(left), Pending: pending}, nil
}

// PatchFaults changes a simulator's §8 fault settings; omitted keys keep
// their value, as with POST /_sim/faults.
func (s *Sims) PatchFaults(name string, patch map[string]any) error {
	var c *simctl.Controller
	switch name {
	case NameNational:
		c = s.National.Controller()
	case NamePayment:
		c = s.Payment.Controller()
	case NameVNPost:
		c = s.VNPost.Controller()
	case NameSMS:
		c = s.SMS.Controller()
	case NameMail:
		c = s.Mail.Controller()
	default:
		p, ok := s.portals[name]
		if !ok {
			return fmt.Errorf("no simulator %q", name)
		}
		c = p.Controller()
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.Patch(body)
	return err
}
