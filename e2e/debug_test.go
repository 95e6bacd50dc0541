package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// debugEvents prints a dossier's provenance and what the national portal
// received, for diagnosing an order violation (E2E_DEBUG=1).
func debugEvents(t *testing.T, dsn, id string, hist []sourceVersion, got []nationalRecord) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Log(err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version, kind, detail, at, instance FROM events WHERE dossier_id = $1 ORDER BY id`, id)
	if err != nil {
		t.Log(err)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "source history %+v\n", hist)
	for rows.Next() {
		var v int64
		var kind, detail, inst string
		var at any
		if err := rows.Scan(&v, &kind, &detail, &at, &inst); err != nil {
			t.Log(err)
			return
		}
		fmt.Fprintf(&b, "  event v%d %s %q %v %s\n", v, kind, detail, at, inst)
	}
	for _, h := range got {
		fmt.Fprintf(&b, "  national %s upd=%s %v\n", h.Service, h.IsUpdating, h.Item["TrangThaiHoSo"])
	}
	t.Log(b.String())
}
