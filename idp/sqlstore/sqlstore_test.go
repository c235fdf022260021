package sqlstore_test

import (
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/idp/storetest"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// TestStore runs the conformance suite on SQLite, and on PostgreSQL when
// GATEHOUSE_TEST_DATABASE_URL is set; each test gets a fresh database.
func TestStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		storetest.Run(t, func(t *testing.T, opts storetest.Options) idp.Store {
			return sqlstore.New(newDB(t), sqlstore.WithClock(opts.Now), sqlstore.WithRefreshGrace(opts.RefreshGrace))
		})
	})
}

// BenchmarkAccessToken measures the token endpoint's and introspection's storage paths:
// CreateAccessTokenSession and GetAccessTokenSession, in parallel.
func BenchmarkAccessToken(b *testing.B) {
	backends := []struct {
		name  string
		newDB func(testing.TB) *database.DB
	}{{"sqlite", dbtest.NewSQLite}}
	if os.Getenv(dbtest.EnvDatabaseURL) != "" {
		backends = append(backends, struct {
			name  string
			newDB func(testing.TB) *database.DB
		}{"postgres", dbtest.NewPostgres})
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			st := sqlstore.New(be.newDB(b))
			ctx := b.Context()
			c := &idp.Client{
				ID: "bench", Name: "Bench", TokenEndpointAuthMethod: idp.AuthMethodBasic,
				GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read", "todos:write"},
				Audiences: []string{"https://api.example"}, RedirectURIs: []string{"https://bench.example/cb"},
			}
			if err := st.CreateClient(ctx, c); err != nil {
				b.Fatal(err)
			}
			newReq := func(i int64) *fosite.Request {
				sess := idp.NewSession()
				sess.Subject, sess.ClientID = "bench", "bench"
				sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
				r := fosite.NewRequest()
				r.ID = fmt.Sprintf("req-%d", i)
				r.Client = c
				r.SetRequestedScopes(fosite.Arguments{"todos:read"})
				r.GrantScope("todos:read")
				r.GrantAudience("https://api.example")
				r.Form = url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}
				r.Session = sess
				return r
			}
			// Tokens for the get benchmark, so that it runs on its own too.
			const tokens = 1000
			for i := int64(1); i <= tokens; i++ {
				if err := st.CreateAccessTokenSession(ctx, fmt.Sprintf("sig-%d", i), newReq(i)); err != nil {
					b.Fatal(err)
				}
			}
			var n atomic.Int64
			n.Store(tokens)

			b.Run("create", func(b *testing.B) {
				b.SetParallelism(8) // a server has many requests in flight, each waiting on the database
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := n.Add(1)
						if err := st.CreateAccessTokenSession(ctx, fmt.Sprintf("sig-%d", i), newReq(i)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("get", func(b *testing.B) {
				var m atomic.Int64
				b.SetParallelism(8) // a server has many requests in flight, each waiting on the database
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := m.Add(1)%tokens + 1
						if _, err := st.GetAccessTokenSession(ctx, fmt.Sprintf("sig-%d", i), idp.NewSession()); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
