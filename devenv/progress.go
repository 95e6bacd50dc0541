package devenv

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lienthong/lienthong/sim/simctl"
	"github.com/lienthong/lienthong/store"
)

// Ledger is what Behind reads of the hub's store.
type Ledger interface {
	GetLedger(ctx context.Context, ids []string) (map[string]store.LedgerEntry, error)
}

// Book returns the change book of a provincial simulator.
func (s *Sims) Book(source string) *simctl.Book {
	switch source {
	case NameSonLa:
		return s.SonLa.Book()
	case NameThaiNguyen:
		return s.ThaiNguyen.Book()
	case NameHaTinh:
		return s.HaTinh.Book()
	}
	return nil
}

// Sync is how far the hub is behind the portals.
type Sync struct {
	Dossiers int // live dossiers at the portals
	Synced   int // of which the national portal holds the final version
	Pending  int // lifecycle changes the simulators have yet to make
}

// Behind compares every live dossier's final version at its portal with
// what the ledger says the national portal acknowledged.
func (s *Sims) Behind(ctx context.Context, l Ledger) (Sync, error) {
	var out Sync
	for _, src := range Sources {
		b := s.Book(src)
		out.Pending += b.Stats().PendingChanges
		_, list := b.List(0, 0)
		ids := make([]string, 0, len(list))
		for _, d := range list {
			ids = append(ids, d.MaHoSo)
		}
		ledger, err := l.GetLedger(ctx, ids)
		if err != nil {
			return out, fmt.Errorf("read ledger: %w", err)
		}
		for _, d := range list {
			if d.Deleted {
				continue
			}
			out.Dossiers++
			want := int64(d.Version)
			if src == NameHaTinh {
				// The feed orders by SEQ: the hub's version of a Hà Tĩnh
				// dossier is the SEQ of its last entry.
				hist, _ := b.History(d.MaHoSo)
				if len(hist) > 0 {
					want = hist[len(hist)-1].Seq
				}
			}
			if e := ledger[d.MaHoSo]; e.NationalState == "held" && e.NationalVersion >= want {
				out.Synced++
			}
		}
	}
	return out, nil
}

// PatchFaults changes a simulator's §8 fault settings; omitted keys keep
// their value, as with POST /_sim/faults.
func (s *Sims) PatchFaults(name string, patch map[string]any) error {
	var c *simctl.Controller
	switch name {
	case NameSonLa:
		c = s.SonLa.Controller()
	case NameThaiNguyen:
		c = s.ThaiNguyen.Controller()
	case NameHaTinh:
		c = s.HaTinh.Controller()
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
		return fmt.Errorf("no simulator %q", name)
	}
	body, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.Patch(body)
	return err
}
