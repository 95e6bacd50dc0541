package gen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/lienthong/lienthong/sim/catalog"
)

// DossierState is a dossier in a form encoding/gob (or any encoder of
// exported fields) can save: the dossier's exported fields, its remaining
// lifecycle and its random stream, so that a restored dossier advances
// exactly as the original would have.
type DossierState struct {
	Dossier Dossier // exported fields only; plan and stream travel below
	Plan    []int
	Stream  []byte // the PCG state (rand.PCG.MarshalBinary); empty when no lifecycle is left
}

// State returns d's saveable state. It fails for a dossier with lifecycle left
// whose random stream is not known (one created by Dossier with a caller's
// rng rather than by Generate).
func (d *Dossier) State() (DossierState, error) {
	st := DossierState{Dossier: *d.Clone(), Plan: append([]int(nil), d.plan...)}
	if len(d.plan) == 0 || d.rng == nil {
		return st, nil
	}
	if d.src == nil {
		return DossierState{}, fmt.Errorf("gen: dossier %s: random stream cannot be saved (create it with Generate)", d.MaHoSo)
	}
	b, err := d.src.MarshalBinary()
	if err != nil {
		return DossierState{}, fmt.Errorf("gen: dossier %s: %w", d.MaHoSo, err)
	}
	st.Stream = b
	return st, nil
}

// Restore rebuilds the dossier saved by State. Times come back in VN.
func (st DossierState) Restore() (*Dossier, error) {
	d := st.Dossier.Clone()
	d.plan = append([]int(nil), st.Plan...)
	if len(d.plan) > 0 {
		if len(st.Stream) == 0 {
			return nil, fmt.Errorf("gen: dossier %s: lifecycle left but no random stream saved", d.MaHoSo)
		}
		src := &rand.PCG{}
		if err := src.UnmarshalBinary(st.Stream); err != nil {
			return nil, fmt.Errorf("gen: dossier %s: random stream: %w", d.MaHoSo, err)
		}
		d.src, d.rng = src, rand.New(src)
	}
	if d.MaHoSo == "" {
		return nil, errors.New("gen: saved dossier without MaHoSo")
	}
	if d.Procedure.PhiLePhi == nil { // gob drops empty slices; the catalogue's are never nil
		d.Procedure.PhiLePhi = []catalog.Fee{}
	}
	d.Updated = InVN(d.Updated)
	d.Submitted, d.Received, d.Due = InVN(d.Submitted), InVN(d.Received), InVN(d.Due)
	d.Resolved, d.Returned = InVN(d.Resolved), InVN(d.Returned)
	d.Owner.Birth = InVN(d.Owner.Birth)
	for i := range d.History {
		d.History[i].Time = InVN(d.History[i].Time)
	}
	return d, nil
}

// InVN returns t in VN, keeping the zero time zero. Decoders (gob, JSON) bring
// times back with an anonymous or local zone of the same offset; this puts
// them back in the portals' zone.
func InVN(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.In(VN)
}
