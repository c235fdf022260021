package policies

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/casbin/casbin/v2/model"
)

//go:embed model.conf
var modelText string

// ModelText is the Casbin model every Gatehouse enforcer uses (model.conf).
func ModelText() string { return modelText }

// NewModel parses the embedded model.
func NewModel() (model.Model, error) {
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, fmt.Errorf("policies: parse model: %w", err)
	}
	return m, nil
}

// Subject prefixes. Users, clients and roles never share a name (RB-05): a user whose id is
// "admin" or "role:admin" is the subject "user:admin" or "user:role:admin", neither of which is
// the role "role:admin".
const (
	UserPrefix   = "user:"
	ClientPrefix = "client:"
	RolePrefix   = "role:"
)

// UserSubject is the subject of the user with the token subject (sub claim) id.
func UserSubject(id string) string { return UserPrefix + id }

// ClientSubject is the subject of an OAuth client acting for itself (client credentials).
func ClientSubject(clientID string) string { return ClientPrefix + clientID }

// RoleSubject is the subject of the role name ("admin" → "role:admin").
func RoleSubject(name string) string { return RolePrefix + name }

// Actions are the HTTP methods a rule may name, and "*" (any of them). Anything else, lower-case
// "get" included, matches no rule (RB-04).
var Actions = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", AnyAction}

// AnyAction in a rule matches every action.
const AnyAction = "*"

// Effects of a rule.
const (
	Allow = "allow"
	Deny  = "deny"
)

// MaxPathLength bounds the request paths Enforce accepts; longer ones are denied (RB-10).
const MaxPathLength = 2048

// ErrNonCanonicalPath is returned (with a denial) for a request path that is not in canonical
// form, so that authorization never sees a path other than the one the router matched (RB-03).
var ErrNonCanonicalPath = errors.New("policies: request path is not canonical")

// CanonicalPath checks that p is a canonical, decoded request path and returns it: it starts
// with '/', has no empty, "." or ".." segment (no "//", "/./", "/../"), no trailing '/' (except
// the root "/"), no percent sign (so no "%2F" or other encoded byte), no ';', '\\', '?', '#',
// whitespace, control or non-ASCII byte, and is at most MaxPathLength bytes. Anything else is
// refused with ErrNonCanonicalPath rather than cleaned: a cleaned path may differ from the one the
// router routed on, and RB-03 needs authorization and routing to see the same path.
//
// The resource server passes the path its router matched (chi: r.URL.Path when r.URL.RawPath is
// empty); a request whose path CanonicalPath refuses should get a 404 (or 400) before any
// handler runs.
func CanonicalPath(p string) (string, error) {
	if len(p) == 0 || p[0] != '/' {
		return "", fmt.Errorf("%w: must start with '/'", ErrNonCanonicalPath)
	}
	if len(p) > MaxPathLength {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrNonCanonicalPath, MaxPathLength)
	}
	if p == "/" {
		return p, nil
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`%;\?#`, c) >= 0 {
			return "", fmt.Errorf("%w: byte %q at %d", ErrNonCanonicalPath, c, i)
		}
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		switch seg {
		case "":
			return "", fmt.Errorf("%w: empty segment (\"//\" or a trailing '/')", ErrNonCanonicalPath)
		case ".", "..":
			return "", fmt.Errorf("%w: dot segment %q", ErrNonCanonicalPath, seg)
		}
	}
	return p, nil
}
