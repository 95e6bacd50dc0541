// Package auth is the access control of the hub's HTTP API: API tokens with
// roles, the principal a request is made by, the middleware that checks
// tokens, and the audit log of operations.
//
// Tokens. A token is a secret, "lt_" followed by the unpadded base64url of
// 32 random bytes, and a short public ID (12 hex digits) that names it in
// lists and in the audit log; the ID is not part of the secret. The store
// keeps only the SHA-256 of the secret (store.APIToken.Hash): a secret of
// 256 random bits needs no slow hash, and a copy of the database does not
// give one. NewToken makes a token; the secret is shown to the operator
// once (`hub token create`) and cannot be recovered afterwards.
//
// Roles (store.RoleNational, RoleProvincial, RolePostal):
//
//	national    operator of the national hub: every province's dossiers,
//	            deliveries, and the operations (replay, discard)
//	provincial  operator of one province (a national province code, such
//	            as "14", "19", "42"): that province's dossiers and
//	            deliveries only, and the operations on them
//	postal      postal viewer: deliveries, no dossier data, no operations
//
// A handler enforces them with the Principal in the request's context
// (FromContext): CanSeeProvince on every dossier it reads and every query
// it runs, CanOperate (or RequireOperator) before an operation, and Audit
// after one.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/lienthong/lienthong/store"
)

// SecretPrefix starts every token secret, so a leaked one is recognised
// (by secret scanners, in a log) for what it is.
const SecretPrefix = "lt_"

// secretBytes is how much randomness a secret carries.
const secretBytes = 32

// secretLen is the length of a secret: the prefix and the base64url of
// secretBytes without padding.
var secretLen = len(SecretPrefix) + base64.RawURLEncoding.EncodedLen(secretBytes)

// NewToken makes a token of role for province ("" for the national and
// postal roles) labelled name. It returns the secret, to give to the
// holder once, and the token to store (store.CreateToken), which holds only
// the secret's hash. A role the store refuses, or a province that does not
// fit the role, is an error wrapping store.ErrInvalid.
func NewToken(role, province, name string) (secret string, tok store.APIToken, err error) {
	b := make([]byte, secretBytes+6)
	if _, err := rand.Read(b); err != nil { // never fails (crypto/rand)
		return "", store.APIToken{}, fmt.Errorf("new token: %w", err)
	}
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:secretBytes])
	tok, err = store.PrepareToken(store.APIToken{
		ID:       hex.EncodeToString(b[secretBytes:]),
		Hash:     Hash(secret),
		Name:     name,
		Role:     role,
		Province: province,
	}, store.Now())
	if err != nil {
		return "", store.APIToken{}, fmt.Errorf("new token: %w", err)
	}
	return secret, tok, nil
}

// Hash is what the store keeps of secret: its SHA-256.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// wellFormed reports whether s has the form of a secret NewToken makes, so
// that anything else is refused without a look-up.
func wellFormed(s string) bool {
	if len(s) != secretLen || !strings.HasPrefix(s, SecretPrefix) {
		return false
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s[len(SecretPrefix):])
	return err == nil
}

// Principal is who a request is made by: a token's ID, role and province.
type Principal struct {
	TokenID  string
	Role     string // store.RoleNational, RoleProvincial, RolePostal
	Province string // the province of a provincial token; "" otherwise
}

// PrincipalOf is the principal holding tok.
func PrincipalOf(tok store.APIToken) Principal {
	return Principal{TokenID: tok.ID, Role: tok.Role, Province: tok.Province}
}

// CanSeeProvince reports whether p may see the dossier data of province
// code: a national operator every province's, a provincial operator its
// own province's only, a postal viewer none. Apply it to every dossier and
// every query a handler serves, deliveries included (the dossier's
// province).
func (p Principal) CanSeeProvince(code string) bool {
	switch p.Role {
	case store.RoleNational:
		return true
	case store.RoleProvincial:
		return p.Province != "" && code == p.Province
	}
	return false
}

// CanOperate reports whether p may run operations (replay, discard): the
// national and provincial operators, the latter on its own province's
// records only (CanSeeProvince).
func (p Principal) CanOperate() bool {
	return p.Role == store.RoleNational || p.Role == store.RoleProvincial
}

// CanSeePostal reports whether p may see delivery (VNPost) data: every
// role. A postal viewer sees every province's deliveries, and nothing else
// of the dossiers; a provincial operator sees its own province's
// deliveries only (CanSeeProvince).
func (p Principal) CanSeePostal() bool {
	return store.ValidRole(p.Role)
}
