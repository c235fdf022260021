package resource

import (
	"errors"
	"fmt"
	"net/http"
)

// DefaultMaxBodyBytes caps a request body when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 10

// Config is the HTTP layer's configuration, a plain struct that cmd fills in.
type Config struct {
	// Title and Version name the API in its OpenAPI document ("Gatehouse todos", "1.0.0" if empty).
	Title   string
	Version string
	// MaxBodyBytes caps a request body; a larger one is 413. 0 is DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Authorizer, when set, must allow every API request (see Authorizer); nil means the token's
	// scopes and ownership alone decide, and the admin routes are closed.
	Authorizer Authorizer
	// RequireActive, when set, runs on the admin routes once the scope and the policy allow:
	// middleware that refuses a token the issuer no longer reports active (in production
	// bearer.Verifier.RequireActive, which introspects at the issuer, RFC 7662), so that a
	// revoked admin token, or the token of a disabled admin, loses the cross-owner view at once
	// (RS-09) instead of when the JWT expires. Its own refusals (401 invalid_token; 503 when the
	// issuer cannot answer) are final.
	RequireActive func(http.Handler) http.Handler
	// AdminWithoutIntrospection opens the admin routes when RequireActive is nil, accepting that
	// a revoked token keeps the cross-owner view until it expires. Without it and without
	// RequireActive the admin routes are closed (403): fail closed, since the resource server
	// cannot see revocations of an offline-verified JWT.
	AdminWithoutIntrospection bool
}

// Validate returns every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.RequireActive != nil && c.AdminWithoutIntrospection {
		errs = append(errs, errors.New("resource: AdminWithoutIntrospection contradicts RequireActive: set one"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("resource: MaxBodyBytes must not be negative, not %d", c.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Title == "" {
		c.Title = "Gatehouse todos"
	}
	if c.Version == "" {
		c.Version = "1.0.0"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	return c
}
