// Package storetest is the conformance suite that every idp.Store implementation must pass.
//
// Run is a list of named subtests, each on a fresh store. Besides the domain methods (clients,
// users, login sessions, consents, signing keys) it pins the error contract that fosite relies on
// (SECURITY.md stack facts 4 and 5; fosite v0.49.0 storage/memory.go):
//
//   - unknown codes, tokens and sessions are fosite.ErrNotFound;
//   - a redeemed authorization code returns fosite.ErrInvalidatedAuthorizeCode together with the
//     stored request, so that fosite can revoke the tokens issued from it (CONF-14);
//   - a revoked refresh token, or one rotated longer ago than the grace window, returns
//     fosite.ErrInactiveToken together with the stored request, so that fosite's reuse detection
//     revokes the grant (RT-01);
//   - refresh tokens never outlive idp.Session.GrantExpiresAt (RT-04);
//   - a known client assertion jti is fosite.ErrJTIKnown (TOKEN-11);
//   - every method runs in the transaction that BeginTX put into the context;
//
// and races: of concurrent redemptions of one code exactly one wins, and concurrent refreshes
// of one refresh token leave exactly one active refresh token for the grant (TOKEN-04, RT-02).
//
// A store is made by a Factory, which receives the clock and refresh grace window that the test
// needs:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, opts storetest.Options) idp.Store {
//			return sqlstore.New(dbtest.NewSQLite(t),
//				sqlstore.WithClock(opts.Now), sqlstore.WithRefreshGrace(opts.RefreshGrace))
//		})
//	}
package storetest
