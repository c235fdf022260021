package idp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/idp"
)

// TestConfigRefusesUnsafeLifetimes: settings that would weaken a row or break sessions in use
// are refused at start with an error naming the setting.
func TestConfigRefusesUnsafeLifetimes(t *testing.T) {
	base := idp.Config{Issuer: "https://id.example", Secrets: [][]byte{[]byte(strings.Repeat("s", 40))}}
	if err := base.WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, c := range []struct {
		name string
		set  func(*idp.Config)
	}{
		{"authorize-code-lifespan", func(c *idp.Config) { c.AuthorizeCodeLifespan = 11 * time.Minute }}, // TOKEN-03
		{"session-idle-timeout", func(c *idp.Config) { c.SessionIdleTimeout = 2 * time.Minute }},        // under the touch interval's margin
		{"access-token-lifespan", func(c *idp.Config) { c.AccessTokenLifespan = -time.Second }},
		{"account-answer-floor", func(c *idp.Config) { c.AccountAnswerFloor = 3 * time.Second }},
	} {
		cfg := base
		c.set(&cfg)
		if err := cfg.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s: %v, want an error naming it", c.name, err)
		}
	}
}
