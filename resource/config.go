package resource

import (
	"errors"
	"fmt"
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
}

// Validate returns every problem of c at once.
func (c Config) Validate() error {
	var errs []error
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
