package store

import (
	"net/url"
	"strings"
)

// WithSearchPath returns a PostgreSQL dsn (URL or key=value form) with
// search_path set: the store then keeps its tables in that schema.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
