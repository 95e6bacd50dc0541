package auth

import "context"

type principalKey struct{}

// NewContext returns ctx carrying p, as Middleware sets it for a request.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of ctx, false when there is none (the
// request did not go through Middleware).
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
