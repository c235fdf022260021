package storetest

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
)

// grant is a client with an access token "at-0" and a refresh token "rt-0" issued for the
// request "req-1" of subject alice.
type grant struct {
	client *idp.Client
	req    *fosite.Request
}

func issueGrant(t *testing.T, st idp.Store, clk *clock) grant {
	t.Helper()
	ctx := t.Context()
	c := createClient(t, st, "web")
	req := newRequest(c, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
	if err := st.CreateAccessTokenSession(ctx, "at-0", req); err != nil {
		t.Fatalf("CreateAccessTokenSession(at-0) = %v", err)
	}
	if err := st.CreateRefreshTokenSession(ctx, "rt-0", "at-0", req); err != nil {
		t.Fatalf("CreateRefreshTokenSession(rt-0) = %v", err)
	}
	return grant{client: c, req: req}
}

// refresh runs the storage calls of fosite's refresh flow (handler/oauth2/flow_refresh.go):
// GetRefreshTokenSession, then in one transaction RotateRefreshToken, CreateAccessTokenSession
// and CreateRefreshTokenSession, rolled back on any error, the commit's included.
func refresh(ctx context.Context, st idp.Store, oldSig, accessSig, refreshSig string, now time.Time) (err error) {
	orig, err := st.GetRefreshTokenSession(ctx, oldSig, idp.NewSession())
	if err != nil {
		return err
	}
	req := fosite.NewRequest()
	req.SetID(orig.GetID())
	req.Client = orig.GetClient()
	req.SetSession(orig.GetSession().Clone())
	req.SetRequestedScopes(orig.GetRequestedScopes())
	req.SetRequestedAudience(orig.GetRequestedAudience())
	for _, s := range orig.GetGrantedScopes() {
		req.GrantScope(s)
	}
	for _, a := range orig.GetGrantedAudience() {
		req.GrantAudience(a)
	}
	req.GetSession().SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
	req.GetSession().SetExpiresAt(fosite.RefreshToken, now.Add(12*time.Hour))

	txCtx, err := st.BeginTX(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, st.Rollback(txCtx))
		}
	}()
	if err = st.RotateRefreshToken(txCtx, req.GetID(), oldSig); err != nil {
		return err
	}
	if err = st.CreateAccessTokenSession(txCtx, accessSig, req); err != nil {
		return err
	}
	if err = st.CreateRefreshTokenSession(txCtx, refreshSig, accessSig, req); err != nil {
		return err
	}
	return st.Commit(txCtx)
}

// wantRefresh checks what GetRefreshTokenSession returns for sig: want, and with
// fosite.ErrInactiveToken the request of requestID.
func wantRefresh(t *testing.T, st idp.Store, sig string, want error, requestID string) {
	t.Helper()
	req, err := st.GetRefreshTokenSession(t.Context(), sig, idp.NewSession())
	wantErr(t, "GetRefreshTokenSession("+sig+")", err, want)
	if (err == nil || errors.Is(err, fosite.ErrInactiveToken)) && (req == nil || req.GetID() != requestID) {
		t.Fatalf("GetRefreshTokenSession(%s) returned request %v, want request %q", sig, req, requestID)
	}
}

// wantAccess checks what GetAccessTokenSession returns for sig.
func wantAccess(t *testing.T, st idp.Store, sig string, want error) {
	t.Helper()
	_, err := st.GetAccessTokenSession(t.Context(), sig, idp.NewSession())
	wantErr(t, "GetAccessTokenSession("+sig+")", err, want)
}

func testAuthorizeCode(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	c := createClient(t, st, "web")
	sess := newSession("alice", "web", clk.Now())
	req := newRequest(c, "req-1", sess, clk.Now())
	if err := st.CreateAuthorizeCodeSession(ctx, "code-1", req); err != nil {
		t.Fatalf("CreateAuthorizeCodeSession = %v", err)
	}

	into := idp.NewSession()
	got, err := st.GetAuthorizeCodeSession(ctx, "code-1", into)
	wantErr(t, "GetAuthorizeCodeSession", err, nil)
	checkRequest(t, got, req)
	if got.GetSession() != fosite.Session(into) {
		t.Errorf("GetAuthorizeCodeSession did not decode into the session it was given")
	}
	got, err = st.GetAuthorizeCodeSession(ctx, "code-1", nil)
	wantErr(t, "GetAuthorizeCodeSession(nil session)", err, nil)
	checkRequest(t, got, req)

	wantErr(t, "InvalidateAuthorizeCodeSession", st.InvalidateAuthorizeCodeSession(ctx, "code-1"), nil)
	wantErr(t, "InvalidateAuthorizeCodeSession(again)", st.InvalidateAuthorizeCodeSession(ctx, "code-1"), fosite.ErrInvalidatedAuthorizeCode)

	// fosite needs the request with the error, to revoke the tokens issued from the code.
	got, err = st.GetAuthorizeCodeSession(ctx, "code-1", idp.NewSession())
	wantErr(t, "GetAuthorizeCodeSession(redeemed)", err, fosite.ErrInvalidatedAuthorizeCode)
	checkRequest(t, got, req)
}

func testUnknownSignatures(t *testing.T, f Factory) {
	st, _ := newStore(t, f, defaultGrace)
	createClient(t, st, "web")
	for _, tt := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetAuthorizeCodeSession", func(ctx context.Context) error {
			_, err := st.GetAuthorizeCodeSession(ctx, "nope", idp.NewSession())
			return err
		}},
		{"InvalidateAuthorizeCodeSession", func(ctx context.Context) error { return st.InvalidateAuthorizeCodeSession(ctx, "nope") }},
		{"GetAccessTokenSession", func(ctx context.Context) error {
			_, err := st.GetAccessTokenSession(ctx, "nope", idp.NewSession())
			return err
		}},
		{"GetRefreshTokenSession", func(ctx context.Context) error {
			_, err := st.GetRefreshTokenSession(ctx, "nope", idp.NewSession())
			return err
		}},
		{"RotateRefreshToken", func(ctx context.Context) error { return st.RotateRefreshToken(ctx, "req-1", "nope") }},
		{"GetPKCERequestSession", func(ctx context.Context) error {
			_, err := st.GetPKCERequestSession(ctx, "nope", idp.NewSession())
			return err
		}},
		{"GetOpenIDConnectSession", func(ctx context.Context) error {
			_, err := st.GetOpenIDConnectSession(ctx, "nope", fosite.NewRequest())
			return err
		}},
		{"GetPARSession", func(ctx context.Context) error {
			_, err := st.GetPARSession(ctx, "urn:ietf:params:oauth:request_uri:nope")
			return err
		}},
		{"GetClient", func(ctx context.Context) error {
			_, err := st.GetClient(ctx, "nope")
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.name+"(unknown)", tt.call(t.Context()), fosite.ErrNotFound)
		})
	}
}

func testDeleteUnknown(t *testing.T, f Factory) {
	st, _ := newStore(t, f, defaultGrace)
	for _, tt := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"DeleteAccessTokenSession", func(ctx context.Context) error { return st.DeleteAccessTokenSession(ctx, "nope") }},
		{"DeleteRefreshTokenSession", func(ctx context.Context) error { return st.DeleteRefreshTokenSession(ctx, "nope") }},
		{"DeletePKCERequestSession", func(ctx context.Context) error { return st.DeletePKCERequestSession(ctx, "nope") }},
		{"DeleteOpenIDConnectSession", func(ctx context.Context) error { return st.DeleteOpenIDConnectSession(ctx, "nope") }},
		{"DeletePARSession", func(ctx context.Context) error { return st.DeletePARSession(ctx, "nope") }},
		{"RevokeAccessToken", func(ctx context.Context) error { return st.RevokeAccessToken(ctx, "nope") }},
		{"RevokeRefreshToken", func(ctx context.Context) error { return st.RevokeRefreshToken(ctx, "nope") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, tt.name+"(unknown)", tt.call(t.Context()), nil)
		})
	}
}

func testAccessToken(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	c := createClient(t, st, "web")
	req1 := newRequest(c, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
	req2 := newRequest(c, "req-2", newSession("bob", "web", clk.Now()), clk.Now())
	for _, tok := range []struct {
		sig string
		req *fosite.Request
	}{{"at-1a", req1}, {"at-1b", req1}, {"at-2", req2}} {
		if err := st.CreateAccessTokenSession(ctx, tok.sig, tok.req); err != nil {
			t.Fatalf("CreateAccessTokenSession(%s) = %v", tok.sig, err)
		}
	}
	err := st.CreateAccessTokenSession(ctx, "at-2", req2)
	if err == nil {
		t.Errorf("CreateAccessTokenSession(existing signature) = nil, want an error")
	}

	got, err := st.GetAccessTokenSession(ctx, "at-1a", idp.NewSession())
	wantErr(t, "GetAccessTokenSession", err, nil)
	checkRequest(t, got, req1)
	got, err = st.GetAccessTokenSession(ctx, "at-2", nil)
	wantErr(t, "GetAccessTokenSession(nil session)", err, nil)
	checkRequest(t, got, req2)

	wantErr(t, "DeleteAccessTokenSession", st.DeleteAccessTokenSession(ctx, "at-1a"), nil)
	wantAccess(t, st, "at-1a", fosite.ErrNotFound)
	wantAccess(t, st, "at-1b", nil)

	wantErr(t, "RevokeAccessToken(req-1)", st.RevokeAccessToken(ctx, "req-1"), nil)
	wantAccess(t, st, "at-1b", fosite.ErrNotFound)
	wantAccess(t, st, "at-2", nil)
}

func testRefreshToken(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	g := issueGrant(t, st, clk)
	other := newRequest(g.client, "req-2", newSession("bob", "web", clk.Now()), clk.Now())
	if err := st.CreateRefreshTokenSession(ctx, "rt-other", "", other); err != nil {
		t.Fatalf("CreateRefreshTokenSession(no access token) = %v", err)
	}

	got, err := st.GetRefreshTokenSession(ctx, "rt-0", idp.NewSession())
	wantErr(t, "GetRefreshTokenSession", err, nil)
	checkRequest(t, got, g.req)

	// Deleting a refresh token revokes it; presenting it again must be reuse, not "unknown".
	wantErr(t, "DeleteRefreshTokenSession", st.DeleteRefreshTokenSession(ctx, "rt-0"), nil)
	got, err = st.GetRefreshTokenSession(ctx, "rt-0", idp.NewSession())
	wantErr(t, "GetRefreshTokenSession(deleted)", err, fosite.ErrInactiveToken)
	checkRequest(t, got, g.req)

	wantRefresh(t, st, "rt-other", nil, "req-2")
	wantErr(t, "RevokeRefreshToken(req-2)", st.RevokeRefreshToken(ctx, "req-2"), nil)
	wantRefresh(t, st, "rt-other", fosite.ErrInactiveToken, "req-2")
}

func testRefreshRotation(t *testing.T, f Factory) {
	for _, tt := range []struct {
		name    string
		grace   time.Duration
		advance time.Duration // after the rotation
		want    error         // for the rotated token
	}{
		{"within the grace window", 10 * time.Second, 5 * time.Second, nil},
		{"at the end of the grace window", 10 * time.Second, 10 * time.Second, nil},
		{"after the grace window", 10 * time.Second, 10*time.Second + time.Millisecond, fosite.ErrInactiveToken},
		{"no grace window", 0, 0, fosite.ErrInactiveToken},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, clk := newStore(t, f, tt.grace)
			issueGrant(t, st, clk)
			wantErr(t, "refresh(rt-0)", refresh(t.Context(), st, "rt-0", "at-1", "rt-1", clk.Now()), nil)

			wantAccess(t, st, "at-0", fosite.ErrNotFound) // the rotation deletes the grant's access tokens
			wantAccess(t, st, "at-1", nil)
			clk.Advance(tt.advance)
			wantRefresh(t, st, "rt-0", tt.want, "req-1")
			wantRefresh(t, st, "rt-1", nil, "req-1")
			if tt.want != nil {
				err := st.RotateRefreshToken(t.Context(), "req-1", "rt-0")
				wantErr(t, "RotateRefreshToken(rotated token)", err, tt.want)
			}
		})
	}
}

func testRefreshRetryWithinGrace(t *testing.T, f Factory) {
	st, clk := newStore(t, f, 10*time.Second)
	issueGrant(t, st, clk)
	wantErr(t, "refresh(rt-0)", refresh(t.Context(), st, "rt-0", "at-1", "rt-1", clk.Now()), nil)

	// The client lost the response and retries with rt-0.
	clk.Advance(2 * time.Second)
	wantErr(t, "refresh(rt-0) again", refresh(t.Context(), st, "rt-0", "at-2", "rt-2", clk.Now()), nil)

	wantRefresh(t, st, "rt-1", fosite.ErrInactiveToken, "req-1") // superseded by rt-2
	wantRefresh(t, st, "rt-2", nil, "req-1")
	wantAccess(t, st, "at-1", fosite.ErrNotFound)
	wantAccess(t, st, "at-2", nil)
}

func testRefreshReuseRevokesGrant(t *testing.T, f Factory) {
	st, clk := newStore(t, f, 10*time.Second)
	ctx := t.Context()
	issueGrant(t, st, clk)
	wantErr(t, "refresh(rt-0)", refresh(ctx, st, "rt-0", "at-1", "rt-1", clk.Now()), nil)

	clk.Advance(time.Minute)
	// Reuse detection as in flow_refresh.go handleRefreshTokenReuse.
	orig, err := st.GetRefreshTokenSession(ctx, "rt-0", idp.NewSession())
	wantErr(t, "GetRefreshTokenSession(rt-0 after the grace window)", err, fosite.ErrInactiveToken)
	if orig == nil || orig.GetID() != "req-1" {
		t.Fatalf("GetRefreshTokenSession(rt-0) returned request %v with ErrInactiveToken, want req-1", orig)
	}
	txCtx, err := st.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX = %v", err)
	}
	wantErr(t, "DeleteRefreshTokenSession(rt-0)", st.DeleteRefreshTokenSession(txCtx, "rt-0"), nil)
	wantErr(t, "RevokeRefreshToken(req-1)", st.RevokeRefreshToken(txCtx, orig.GetID()), nil)
	wantErr(t, "RevokeAccessToken(req-1)", st.RevokeAccessToken(txCtx, orig.GetID()), nil)
	wantErr(t, "Commit", st.Commit(txCtx), nil)

	wantRefresh(t, st, "rt-0", fosite.ErrInactiveToken, "req-1")
	wantRefresh(t, st, "rt-1", fosite.ErrInactiveToken, "req-1")
	wantAccess(t, st, "at-1", fosite.ErrNotFound)
	wantErr(t, "RotateRefreshToken(revoked)", st.RotateRefreshToken(ctx, "req-1", "rt-1"), fosite.ErrInactiveToken)
}

func testRefreshGrantCap(t *testing.T, f Factory) {
	for _, tt := range []struct {
		name           string
		refreshExpiry  time.Duration // from now; 0: none
		grantExpiry    time.Duration // from now; 0: none
		wantExpiry     time.Duration // from now; 0: none
		wantCappedNote string
	}{
		{"refresh expiry before the grant's end", time.Hour, 24 * time.Hour, time.Hour, "kept"},
		{"refresh expiry after the grant's end", 30 * 24 * time.Hour, 8 * time.Hour, 8 * time.Hour, "capped"},
		{"no refresh expiry", 0, 8 * time.Hour, 8 * time.Hour, "capped"},
		{"no grant end", 30 * 24 * time.Hour, 0, 30 * 24 * time.Hour, "kept"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, clk := newStore(t, f, defaultGrace)
			ctx := t.Context()
			now := clk.Now()
			at := func(d time.Duration) time.Time {
				if d == 0 {
					return time.Time{}
				}
				return now.Add(d)
			}
			c := createClient(t, st, "web")
			sess := newSession("alice", "web", now)
			sess.GrantExpiresAt = at(tt.grantExpiry)
			sess.ExpiresAt = nil
			sess.SetExpiresAt(fosite.RefreshToken, at(tt.refreshExpiry))
			req := newRequest(c, "req-1", sess, now)
			if err := st.CreateRefreshTokenSession(ctx, "rt-1", "", req); err != nil {
				t.Fatalf("CreateRefreshTokenSession = %v", err)
			}
			if got := sess.GetExpiresAt(fosite.RefreshToken); !got.Equal(at(tt.refreshExpiry)) {
				t.Errorf("CreateRefreshTokenSession changed the caller's session: refresh expiry %v, want %v", got, at(tt.refreshExpiry))
			}

			got, err := st.GetRefreshTokenSession(ctx, "rt-1", idp.NewSession())
			wantErr(t, "GetRefreshTokenSession", err, nil)
			want := at(tt.wantExpiry)
			if exp := got.GetSession().GetExpiresAt(fosite.RefreshToken); !exp.Equal(want) {
				t.Errorf("stored refresh expiry = %v, want %v (%s)", exp, want, tt.wantCappedNote)
			}
			if want.IsZero() {
				return
			}
			// The row expires with the token.
			if n, err := st.DeleteExpired(ctx, want); err != nil || n != 0 {
				t.Errorf("DeleteExpired(at the expiry) = %d, %v; want 0, nil", n, err)
			}
			if n, err := st.DeleteExpired(ctx, want.Add(time.Second)); err != nil || n != 1 {
				t.Errorf("DeleteExpired(after the expiry) = %d, %v; want 1, nil", n, err)
			}
			wantRefresh(t, st, "rt-1", fosite.ErrNotFound, "")
		})
	}
}

func testPKCE(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	c := createClient(t, st, "web")
	req := newRequest(c, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
	if err := st.CreatePKCERequestSession(ctx, "code-1", req); err != nil {
		t.Fatalf("CreatePKCERequestSession = %v", err)
	}
	got, err := st.GetPKCERequestSession(ctx, "code-1", idp.NewSession())
	wantErr(t, "GetPKCERequestSession", err, nil)
	checkRequest(t, got, req)
	for _, k := range []string{"code_challenge", "code_challenge_method"} {
		if g, w := got.GetRequestForm().Get(k), req.Form.Get(k); g != w {
			t.Errorf("PKCE form %s = %q, want %q", k, g, w)
		}
	}
	wantErr(t, "DeletePKCERequestSession", st.DeletePKCERequestSession(ctx, "code-1"), nil)
	_, err = st.GetPKCERequestSession(ctx, "code-1", idp.NewSession())
	wantErr(t, "GetPKCERequestSession(deleted)", err, fosite.ErrNotFound)
}

func testOpenIDConnect(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	c := createClient(t, st, "web")
	req := newRequest(c, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
	if err := st.CreateOpenIDConnectSession(ctx, "full-code-1", req); err != nil {
		t.Fatalf("CreateOpenIDConnectSession = %v", err)
	}

	// fosite passes the token request, whose session the stored one is decoded into.
	tokenReq := fosite.NewAccessRequest(idp.NewSession())
	got, err := st.GetOpenIDConnectSession(ctx, "full-code-1", tokenReq)
	wantErr(t, "GetOpenIDConnectSession", err, nil)
	checkRequest(t, got, req)
	got, err = st.GetOpenIDConnectSession(ctx, "full-code-1", nil)
	wantErr(t, "GetOpenIDConnectSession(nil requester)", err, nil)
	checkRequest(t, got, req)

	wantErr(t, "DeleteOpenIDConnectSession", st.DeleteOpenIDConnectSession(ctx, "full-code-1"), nil)
	_, err = st.GetOpenIDConnectSession(ctx, "full-code-1", tokenReq)
	wantErr(t, "GetOpenIDConnectSession(deleted)", err, fosite.ErrNotFound)
}

func testPAR(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	c := createClient(t, st, "web")
	const uri = "urn:ietf:params:oauth:request_uri:abc"

	ar := fosite.NewAuthorizeRequest()
	ar.Request = *newRequest(c, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
	ar.Form.Set("response_type", "code")
	ar.Form.Set("state", "state-123456")
	ar.ResponseTypes = fosite.Arguments{"code"}
	ar.RedirectURI, _ = url.Parse("https://web.example/cb?x=1")
	ar.State = "state-123456"
	ar.ResponseMode = fosite.ResponseModeFormPost
	ar.DefaultResponseMode = fosite.ResponseModeQuery
	wantForm := ar.Form.Encode()
	ar.Form.Set("client_secret", "s3cret") // client_secret_post at the PAR endpoint

	if err := st.CreatePARSession(ctx, uri, ar); err != nil {
		t.Fatalf("CreatePARSession = %v", err)
	}
	got, err := st.GetPARSession(ctx, uri)
	wantErr(t, "GetPARSession", err, nil)
	ar.Form.Del("client_secret")
	checkRequest(t, got, ar)
	if g := got.GetRequestForm().Encode(); g != wantForm {
		t.Errorf("PAR form = %s, want %s (client credentials are not stored)", g, wantForm)
	}
	if got.GetRedirectURI() == nil || got.GetRedirectURI().String() != ar.RedirectURI.String() {
		t.Errorf("PAR redirect URI = %v, want %v", got.GetRedirectURI(), ar.RedirectURI)
	}
	if !slices.Equal(got.GetResponseTypes(), ar.ResponseTypes) || got.GetState() != ar.State ||
		got.GetResponseMode() != ar.ResponseMode || got.GetDefaultResponseMode() != ar.DefaultResponseMode {
		t.Errorf("PAR response types, state, response mode, default = %q, %q, %q, %q; want %q, %q, %q, %q",
			got.GetResponseTypes(), got.GetState(), got.GetResponseMode(), got.GetDefaultResponseMode(),
			ar.ResponseTypes, ar.State, ar.ResponseMode, ar.DefaultResponseMode)
	}
	// fosite merges it into a new authorization request (authorize_request_handler.go).
	merged := fosite.NewAuthorizeRequest()
	merged.Merge(got)
	if merged.GetID() != "req-1" || merged.GetSession() == nil {
		t.Errorf("merged PAR request: ID %q, session %v; want req-1 and a session", merged.GetID(), merged.GetSession())
	}

	// fosite does not check the expiry of a PAR session: the store must.
	clk.Advance(time.Minute + time.Second)
	_, err = st.GetPARSession(ctx, uri)
	wantErr(t, "GetPARSession(expired)", err, fosite.ErrNotFound)

	wantErr(t, "DeletePARSession", st.DeletePARSession(ctx, uri), nil)
	_, err = st.GetPARSession(ctx, uri)
	wantErr(t, "GetPARSession(deleted)", err, fosite.ErrNotFound)
}

func testClientAssertionJTI(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	wantErr(t, "ClientAssertionJWTValid(new)", st.ClientAssertionJWTValid(ctx, "jti-1"), nil)
	wantErr(t, "SetClientAssertionJWT", st.SetClientAssertionJWT(ctx, "jti-1", clk.Now().Add(time.Minute)), nil)
	wantErr(t, "ClientAssertionJWTValid(known)", st.ClientAssertionJWTValid(ctx, "jti-1"), fosite.ErrJTIKnown)
	wantErr(t, "SetClientAssertionJWT(known)", st.SetClientAssertionJWT(ctx, "jti-1", clk.Now().Add(time.Minute)), fosite.ErrJTIKnown)
	wantErr(t, "ClientAssertionJWTValid(other)", st.ClientAssertionJWTValid(ctx, "jti-2"), nil)

	clk.Advance(2 * time.Minute)
	wantErr(t, "ClientAssertionJWTValid(expired)", st.ClientAssertionJWTValid(ctx, "jti-1"), nil)
	wantErr(t, "SetClientAssertionJWT(expired)", st.SetClientAssertionJWT(ctx, "jti-1", clk.Now().Add(time.Minute)), nil)
	wantErr(t, "ClientAssertionJWTValid(known again)", st.ClientAssertionJWTValid(ctx, "jti-1"), fosite.ErrJTIKnown)
}

func testTransactions(t *testing.T, f Factory) {
	st, clk := newStore(t, f, 0)
	ctx := t.Context()
	web := createClient(t, st, "web")

	// Rolled back: nothing written in the transaction remains, domain writes included.
	txCtx, err := st.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX = %v", err)
	}
	if err := st.CreateClient(txCtx, testClient("spa")); err != nil {
		t.Fatalf("CreateClient in transaction = %v", err)
	}
	// Read-modify-write joins the transaction instead of waiting for it.
	if err := st.UpdateClient(txCtx, "spa", func(c *idp.Client) error { c.Name = "SPA"; return nil }); err != nil {
		t.Fatalf("UpdateClient in transaction = %v", err)
	}
	if c, err := st.GetClientByID(txCtx, "spa"); err != nil || c.Name != "SPA" {
		t.Fatalf("GetClientByID in transaction = %v, %v; want the client written in it", c, err)
	}
	req := newRequest(web, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
	if err := st.CreateAccessTokenSession(txCtx, "at-1", req); err != nil {
		t.Fatalf("CreateAccessTokenSession in transaction = %v", err)
	}
	if _, err := st.GetAccessTokenSession(txCtx, "at-1", idp.NewSession()); err != nil {
		t.Fatalf("GetAccessTokenSession in transaction = %v", err)
	}
	wantErr(t, "Rollback", st.Rollback(txCtx), nil)
	_, err = st.GetClientByID(ctx, "spa")
	wantErr(t, "GetClientByID after rollback", err, idp.ErrNotFound)
	wantAccess(t, st, "at-1", fosite.ErrNotFound)

	// A rotation rolled back leaves the refresh token active.
	if err := st.CreateRefreshTokenSession(ctx, "rt-1", "", req); err != nil {
		t.Fatalf("CreateRefreshTokenSession = %v", err)
	}
	txCtx, err = st.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX = %v", err)
	}
	wantErr(t, "RotateRefreshToken in transaction", st.RotateRefreshToken(txCtx, "req-1", "rt-1"), nil)
	wantErr(t, "Rollback", st.Rollback(txCtx), nil)
	wantRefresh(t, st, "rt-1", nil, "req-1") // no grace window: nil means active

	// Committed: everything is there; a rollback after the commit, as fosite does after a failed
	// commit, is harmless.
	txCtx, err = st.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX = %v", err)
	}
	if err := st.CreateClient(txCtx, testClient("spa")); err != nil {
		t.Fatalf("CreateClient in transaction = %v", err)
	}
	if err := st.CreateAccessTokenSession(txCtx, "at-1", req); err != nil {
		t.Fatalf("CreateAccessTokenSession in transaction = %v", err)
	}
	wantErr(t, "Commit", st.Commit(txCtx), nil)
	wantErr(t, "Rollback after Commit", st.Rollback(txCtx), nil)
	if _, err := st.GetClientByID(ctx, "spa"); err != nil {
		t.Errorf("GetClientByID after commit = %v", err)
	}
	wantAccess(t, st, "at-1", nil)
}

func testDeleteExpired(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	now := clk.Now()
	c := createClient(t, st, "web")
	alice := createUser(t, st, "alice@example.com")

	live := newRequest(c, "req-live", newSession("alice", "web", now), now)
	expiredSess := newSession("alice", "web", now)
	for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken, fosite.PushedAuthorizeRequestContext} {
		expiredSess.SetExpiresAt(tt, now.Add(-time.Minute))
	}
	expired := newRequest(c, "req-expired", expiredSess, now)
	expiredAR := fosite.NewAuthorizeRequest()
	expiredAR.Request = *expired

	for _, step := range []struct {
		name string
		err  error
	}{
		{"code (expired)", st.CreateAuthorizeCodeSession(ctx, "code-old", expired)},
		{"code", st.CreateAuthorizeCodeSession(ctx, "code-new", live)},
		{"access token (expired)", st.CreateAccessTokenSession(ctx, "at-old", expired)},
		{"access token", st.CreateAccessTokenSession(ctx, "at-new", live)},
		{"refresh token (expired)", st.CreateRefreshTokenSession(ctx, "rt-old", "at-old", expired)},
		{"refresh token", st.CreateRefreshTokenSession(ctx, "rt-new", "at-new", live)},
		{"PKCE (expired)", st.CreatePKCERequestSession(ctx, "code-old", expired)},
		{"OIDC (expired)", st.CreateOpenIDConnectSession(ctx, "code-old", expired)},
		{"PAR (expired)", st.CreatePARSession(ctx, "urn:old", expiredAR)},
		{"jti (expired)", st.SetClientAssertionJWT(ctx, "jti-old", now.Add(-time.Minute))},
		{"jti", st.SetClientAssertionJWT(ctx, "jti-new", now.Add(time.Minute))},
		{"login session (expired)", st.CreateLoginSession(ctx, &idp.LoginSession{IDHash: "ls-old", UserID: alice.ID, ExpiresAt: now.Add(-time.Minute)})},
		{"login session", st.CreateLoginSession(ctx, &idp.LoginSession{IDHash: "ls-new", UserID: alice.ID, ExpiresAt: now.Add(time.Hour)})},
		{"retired key (expired)", st.CreateSigningKey(ctx, &idp.SigningKey{KID: "k-old", Alg: "RS256", State: idp.KeyRetired, PublicJWK: []byte("{}"), PrivateEnc: []byte("x"), ExpiresAt: now.Add(-time.Minute)})},
		{"retired key", st.CreateSigningKey(ctx, &idp.SigningKey{KID: "k-retired", Alg: "RS256", State: idp.KeyRetired, PublicJWK: []byte("{}"), PrivateEnc: []byte("x"), ExpiresAt: now.Add(time.Hour)})},
		{"active key", st.CreateSigningKey(ctx, &idp.SigningKey{KID: "k-active", Alg: "RS256", State: idp.KeyActive, PublicJWK: []byte("{}"), PrivateEnc: []byte("x")})},
	} {
		if step.err != nil {
			t.Fatalf("create %s = %v", step.name, step.err)
		}
	}

	n, err := st.DeleteExpired(ctx, now)
	if err != nil || n != 9 {
		t.Fatalf("DeleteExpired = %d, %v; want 9 (code, access, refresh, PKCE, OIDC, PAR, jti, login session, key), nil", n, err)
	}
	if n, err := st.DeleteExpired(ctx, now); err != nil || n != 0 {
		t.Errorf("DeleteExpired again = %d, %v; want 0, nil", n, err)
	}

	_, err = st.GetAuthorizeCodeSession(ctx, "code-old", idp.NewSession())
	wantErr(t, "GetAuthorizeCodeSession(expired)", err, fosite.ErrNotFound)
	_, err = st.GetAuthorizeCodeSession(ctx, "code-new", idp.NewSession())
	wantErr(t, "GetAuthorizeCodeSession(live)", err, nil)
	wantAccess(t, st, "at-old", fosite.ErrNotFound)
	wantAccess(t, st, "at-new", nil)
	wantRefresh(t, st, "rt-old", fosite.ErrNotFound, "")
	wantRefresh(t, st, "rt-new", nil, "req-live")
	_, err = st.GetPKCERequestSession(ctx, "code-old", idp.NewSession())
	wantErr(t, "GetPKCERequestSession(expired)", err, fosite.ErrNotFound)
	_, err = st.GetOpenIDConnectSession(ctx, "code-old", nil)
	wantErr(t, "GetOpenIDConnectSession(expired)", err, fosite.ErrNotFound)
	wantErr(t, "ClientAssertionJWTValid(live)", st.ClientAssertionJWTValid(ctx, "jti-new"), fosite.ErrJTIKnown)
	_, err = st.GetLoginSession(ctx, "ls-old")
	wantErr(t, "GetLoginSession(expired)", err, idp.ErrNotFound)
	_, err = st.GetLoginSession(ctx, "ls-new")
	wantErr(t, "GetLoginSession(live)", err, nil)
	keys, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatalf("ListSigningKeys = %v", err)
	}
	var kids []string
	for _, k := range keys {
		kids = append(kids, k.KID)
	}
	slices.Sort(kids)
	if want := []string{"k-active", "k-retired"}; !slices.Equal(kids, want) {
		t.Errorf("keys after DeleteExpired = %q, want %q", kids, want)
	}
}

func testRevokeSubjectTokens(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	now := clk.Now()
	c := createClient(t, st, "web")
	alice := newRequest(c, "req-alice", newSession("alice", "web", now), now)
	bob := newRequest(c, "req-bob", newSession("bob", "web", now), now)
	for _, step := range []struct {
		name string
		err  error
	}{
		{"alice's code", st.CreateAuthorizeCodeSession(ctx, "code-alice", alice)},
		{"alice's access token", st.CreateAccessTokenSession(ctx, "at-alice", alice)},
		{"alice's refresh token", st.CreateRefreshTokenSession(ctx, "rt-alice", "at-alice", alice)},
		{"bob's code", st.CreateAuthorizeCodeSession(ctx, "code-bob", bob)},
		{"bob's access token", st.CreateAccessTokenSession(ctx, "at-bob", bob)},
		{"bob's refresh token", st.CreateRefreshTokenSession(ctx, "rt-bob", "at-bob", bob)},
	} {
		if step.err != nil {
			t.Fatalf("create %s = %v", step.name, step.err)
		}
	}

	wantErr(t, "RevokeSubjectTokens(alice)", st.RevokeSubjectTokens(ctx, "alice"), nil)
	wantAccess(t, st, "at-alice", fosite.ErrNotFound)
	wantRefresh(t, st, "rt-alice", fosite.ErrInactiveToken, "req-alice")
	_, err := st.GetAuthorizeCodeSession(ctx, "code-alice", idp.NewSession())
	wantErr(t, "GetAuthorizeCodeSession(alice's)", err, fosite.ErrInvalidatedAuthorizeCode)

	wantAccess(t, st, "at-bob", nil)
	wantRefresh(t, st, "rt-bob", nil, "req-bob")
	_, err = st.GetAuthorizeCodeSession(ctx, "code-bob", idp.NewSession())
	wantErr(t, "GetAuthorizeCodeSession(bob's)", err, nil)

	if err := st.RevokeSubjectTokens(ctx, ""); err == nil {
		t.Errorf("RevokeSubjectTokens(\"\") = nil, want an error")
	}
}
