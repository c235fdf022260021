package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// TestClientCache checks that GetClient reads through the cache for its TTL only, and that
// without a cache a disabled client is refused at once.
func TestClientCache(t *testing.T) {
	for _, tc := range []struct {
		name         string
		ttl          time.Duration
		wantDisabled bool // whether GetClient sees the disabling at once
	}{
		{"no cache", 0, true},
		{"one hour", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := sqlstore.New(dbtest.NewSQLite(t), sqlstore.WithClientCache(tc.ttl))
			c := &idp.Client{ID: "c1", Name: "c", SecretHash: idp.HashClientSecret([]byte("s")), TokenEndpointAuthMethod: idp.AuthMethodBasic,
				GrantTypes: []string{"client_credentials"}, CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if err := st.CreateClient(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			if _, err := st.GetClient(t.Context(), "c1"); err != nil {
				t.Fatal(err)
			}
			if err := st.UpdateClient(t.Context(), "c1", func(c *idp.Client) error { c.Disabled = true; return nil }); err != nil {
				t.Fatal(err)
			}
			_, err := st.GetClient(t.Context(), "c1")
			if got := errors.Is(err, fosite.ErrNotFound); got != tc.wantDisabled {
				t.Errorf("GetClient after disabling: err = %v, want refused = %v", err, tc.wantDisabled)
			}
			if _, err := st.GetClient(t.Context(), "unknown"); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("unknown client: %v, want fosite.ErrNotFound", err)
			}
		})
	}
}
