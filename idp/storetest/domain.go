package storetest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
)

// diffClient lists the fields in which got differs from want.
func diffClient(got, want *idp.Client) []string {
	var d []string
	field := func(name string, g, w any) {
		if fmt.Sprint(g) != fmt.Sprint(w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	field("ID", got.ID, want.ID)
	field("Name", got.Name, want.Name)
	field("SecretHash", fmt.Sprintf("%x", got.SecretHash), fmt.Sprintf("%x", want.SecretHash))
	field("Public", got.Public, want.Public)
	field("FirstParty", got.FirstParty, want.FirstParty)
	field("Disabled", got.Disabled, want.Disabled)
	field("TokenEndpointAuthMethod", got.TokenEndpointAuthMethod, want.TokenEndpointAuthMethod)
	field("TokenEndpointAuthAlg", got.TokenEndpointAuthAlg, want.TokenEndpointAuthAlg)
	field("AccessTokenLifespan", got.AccessTokenLifespan, want.AccessTokenLifespan)
	field("RefreshTokenLifespan", got.RefreshTokenLifespan, want.RefreshTokenLifespan)
	for _, l := range []struct {
		name      string
		got, want []string
	}{
		{"RedirectURIs", got.RedirectURIs, want.RedirectURIs},
		{"PostLogoutRedirectURIs", got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs},
		{"GrantTypes", got.GrantTypes, want.GrantTypes},
		{"ResponseTypes", got.ResponseTypes, want.ResponseTypes},
		{"Scopes", got.Scopes, want.Scopes},
		{"Audiences", got.Audiences, want.Audiences},
		{"AllowedCORSOrigins", got.AllowedCORSOrigins, want.AllowedCORSOrigins},
	} {
		if !slices.Equal(l.got, l.want) {
			d = append(d, fmt.Sprintf("%s = %q, want %q", l.name, l.got, l.want))
		}
	}
	gj, _ := json.Marshal(got.JWKS)
	wj, _ := json.Marshal(want.JWKS)
	field("JWKS", string(gj), string(wj))
	if !equalTime(got.CreatedAt, want.CreatedAt) {
		d = append(d, fmt.Sprintf("CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	if !equalTime(got.UpdatedAt, want.UpdatedAt) {
		d = append(d, fmt.Sprintf("UpdatedAt = %v, want %v", got.UpdatedAt, want.UpdatedAt))
	}
	return d
}

func checkClient(t *testing.T, call string, got, want *idp.Client) {
	t.Helper()
	for _, d := range diffClient(got, want) {
		t.Errorf("%s: %s", call, d)
	}
}

// testJWKS returns a JWK Set with one P-256 public key.
func testJWKS(t *testing.T) *jose.JSONWebKeySet {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
}

func testClientCRUD(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()

	// Created out of order: ListClients sorts by CreatedAt.
	spa := testClient("spa")
	spa.Public, spa.SecretHash, spa.TokenEndpointAuthMethod = true, nil, idp.AuthMethodNone
	spa.CreatedAt = clk.Now().Add(time.Second)
	web := testClient("web")
	web.TokenEndpointAuthMethod = idp.AuthMethodPrivateKeyJWT
	web.TokenEndpointAuthAlg = "ES256"
	web.JWKS = testJWKS(t)
	for _, c := range []*idp.Client{spa, web} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatalf("CreateClient(%q) = %v", c.ID, err)
		}
	}
	if !equalTime(web.CreatedAt, clk.Now()) || !equalTime(web.UpdatedAt, clk.Now()) {
		t.Errorf("CreateClient set CreatedAt, UpdatedAt = %v, %v, want the clock's %v", web.CreatedAt, web.UpdatedAt, clk.Now())
	}

	for _, want := range []*idp.Client{web, spa} {
		got, err := st.GetClientByID(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetClientByID(%q) = %v", want.ID, err)
		}
		checkClient(t, "GetClientByID("+want.ID+")", got, want)

		fc, err := st.GetClient(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetClient(%q) = %v", want.ID, err)
		}
		ic, ok := fc.(*idp.Client)
		if !ok {
			t.Fatalf("GetClient(%q) is a %T, want *idp.Client", want.ID, fc)
		}
		checkClient(t, "GetClient("+want.ID+")", ic, want)
	}

	list, err := st.ListClients(ctx)
	if err != nil {
		t.Fatalf("ListClients = %v", err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	if want := []string{"web", "spa"}; !slices.Equal(ids, want) {
		t.Errorf("ListClients IDs = %q, want %q (by CreatedAt)", ids, want)
	}

	clk.Advance(time.Minute)
	err = st.UpdateClient(ctx, "web", func(c *idp.Client) error {
		c.Name = "Renamed"
		c.RedirectURIs = []string{"https://new.example/cb"}
		c.Scopes = nil
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateClient = %v", err)
	}
	want := *web
	want.Name, want.RedirectURIs, want.Scopes, want.UpdatedAt = "Renamed", []string{"https://new.example/cb"}, nil, clk.Now()
	got, err := st.GetClientByID(ctx, "web")
	if err != nil {
		t.Fatalf("GetClientByID after update = %v", err)
	}
	checkClient(t, "after UpdateClient", got, &want)

	errStop := errors.New("stop")
	err = st.UpdateClient(ctx, "web", func(c *idp.Client) error { c.Name = "Never"; return errStop })
	wantErr(t, "UpdateClient with a failing fn", err, errStop)
	if got, _ := st.GetClientByID(ctx, "web"); got == nil || got.Name != "Renamed" {
		t.Errorf("after a failed update the name is %v, want Renamed", got)
	}
	err = st.UpdateClient(ctx, "web", func(c *idp.Client) error { c.ID = "other"; return nil })
	if err == nil {
		t.Errorf("UpdateClient changing the ID = nil, want an error")
	}
	err = st.UpdateClient(ctx, "nobody", func(*idp.Client) error { return nil })
	wantErr(t, "UpdateClient(unknown)", err, idp.ErrNotFound)

	wantErr(t, "DeleteClient(web)", st.DeleteClient(ctx, "web"), nil)
	_, err = st.GetClientByID(ctx, "web")
	wantErr(t, "GetClientByID(deleted)", err, idp.ErrNotFound)
	_, err = st.GetClient(ctx, "web")
	wantErr(t, "GetClient(deleted)", err, fosite.ErrNotFound)
	wantErr(t, "DeleteClient(deleted)", st.DeleteClient(ctx, "web"), idp.ErrNotFound)
}

func testClientConflict(t *testing.T, f Factory) {
	st, _ := newStore(t, f, defaultGrace)
	createClient(t, st, "web")
	err := st.CreateClient(t.Context(), testClient("web"))
	wantErr(t, "CreateClient(duplicate ID)", err, idp.ErrConflict)
}

// testUserClientIDsDisjoint_F9_RS11: a client cannot be created with a user's ID, nor a user
// with a client's (review F9). A client-credentials token has sub == client_id, and resource
// servers and the admin API read that equality as "the client acts for itself"; a user's token
// has sub = the user's ID and client_id = the app's, so it could only look like a client's if
// the app's ID were the user's. Both kinds of ID are random UUIDs the provider and the CLI
// generate; this keeps a chosen ID (an import, a script, a future registration endpoint) from
// ever making the two collide.
func testUserClientIDsDisjoint_F9_RS11(t *testing.T, f Factory) {
	st, _ := newStore(t, f, defaultGrace)
	u := createUser(t, st, "alice@example.com")
	err := st.CreateClient(t.Context(), testClient(u.ID))
	wantErr(t, "CreateClient(a user's ID)", err, idp.ErrConflict)
	if _, err := st.GetClientByID(t.Context(), u.ID); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("GetClientByID(the user's ID) = %v, want ErrNotFound: the refused client was stored", err)
	}
	c := createClient(t, st, "8d7f7c7e-3c55-4c1e-9c55-3b1f3e6a2d10")
	err = st.CreateUser(t.Context(), &idp.User{ID: c.ID, Email: "bob@example.com", PasswordHash: "x"})
	wantErr(t, "CreateUser(a client's ID)", err, idp.ErrConflict)
	if _, err := st.GetUserByEmail(t.Context(), "bob@example.com"); !errors.Is(err, idp.ErrNotFound) {
		t.Fatalf("GetUserByEmail(bob) = %v, want ErrNotFound: the refused user was stored", err)
	}
	createClient(t, st, "web") // other IDs still work
}

func testDisabledClient(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	c := createClient(t, st, "web")
	req := newRequest(c, "req-1", newSession("alice", "web", clk.Now()), clk.Now())
	if err := st.CreateAccessTokenSession(ctx, "at-1", req); err != nil {
		t.Fatalf("CreateAccessTokenSession = %v", err)
	}
	if err := st.UpdateClient(ctx, "web", func(c *idp.Client) error { c.Disabled = true; return nil }); err != nil {
		t.Fatalf("UpdateClient(disable) = %v", err)
	}

	_, err := st.GetClient(ctx, "web")
	wantErr(t, "GetClient(disabled)", err, fosite.ErrNotFound)
	got, err := st.GetClientByID(ctx, "web")
	if err != nil || !got.Disabled {
		t.Fatalf("GetClientByID(disabled) = %v, %v; want the client with Disabled set", got, err)
	}
	// A disabled client's tokens stop working at once.
	_, err = st.GetAccessTokenSession(ctx, "at-1", idp.NewSession())
	wantErr(t, "GetAccessTokenSession(token of a disabled client)", err, fosite.ErrNotFound)
}

func testUserCRUD(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()

	alice := &idp.User{Email: "Alice@Example.com", Name: "Alice", PasswordHash: "hash-a", EmailVerified: true}
	if err := st.CreateUser(ctx, alice); err != nil {
		t.Fatalf("CreateUser = %v", err)
	}
	if alice.ID == "" {
		t.Fatalf("CreateUser left the ID empty, want a generated one")
	}
	clk.Advance(time.Second)
	bob := createUser(t, st, "bob@example.com")

	for _, lookup := range []struct {
		name string
		get  func() (*idp.User, error)
	}{
		{"GetUser", func() (*idp.User, error) { return st.GetUser(ctx, alice.ID) }},
		{"GetUserByEmail(exact)", func() (*idp.User, error) { return st.GetUserByEmail(ctx, "Alice@Example.com") }},
		{"GetUserByEmail(other case, spaces)", func() (*idp.User, error) { return st.GetUserByEmail(ctx, "  ALICE@example.COM ") }},
	} {
		got, err := lookup.get()
		if err != nil {
			t.Fatalf("%s = %v", lookup.name, err)
		}
		if got.ID != alice.ID || got.Email != alice.Email || got.Name != alice.Name || got.PasswordHash != alice.PasswordHash ||
			!got.EmailVerified || got.Disabled || !equalTime(got.CreatedAt, alice.CreatedAt) || !equalTime(got.UpdatedAt, alice.UpdatedAt) {
			t.Errorf("%s = %+v, want %+v", lookup.name, got, alice)
		}
	}
	_, err := st.GetUser(ctx, "nobody")
	wantErr(t, "GetUser(unknown)", err, idp.ErrNotFound)
	_, err = st.GetUserByEmail(ctx, "nobody@example.com")
	wantErr(t, "GetUserByEmail(unknown)", err, idp.ErrNotFound)

	list, err := st.ListUsers(ctx)
	if err != nil {
		t.Fatalf("ListUsers = %v", err)
	}
	if len(list) != 2 || list[0].ID != alice.ID || list[1].ID != bob.ID {
		t.Errorf("ListUsers = %v, want alice then bob", list)
	}

	clk.Advance(time.Minute)
	err = st.UpdateUser(ctx, alice.ID, func(u *idp.User) error {
		u.Email, u.Disabled = "alice@new.example", true
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateUser = %v", err)
	}
	got, err := st.GetUserByEmail(ctx, "ALICE@new.example")
	if err != nil || got.ID != alice.ID || !got.Disabled || !equalTime(got.UpdatedAt, clk.Now()) {
		t.Errorf("GetUserByEmail(new email) = %+v, %v; want alice, disabled, updated at %v", got, err, clk.Now())
	}
	_, err = st.GetUserByEmail(ctx, "alice@example.com")
	wantErr(t, "GetUserByEmail(old email)", err, idp.ErrNotFound)
	err = st.UpdateUser(ctx, "nobody", func(*idp.User) error { return nil })
	wantErr(t, "UpdateUser(unknown)", err, idp.ErrNotFound)
	err = st.UpdateUser(ctx, bob.ID, func(u *idp.User) error { u.Email = "Alice@New.Example"; return nil })
	wantErr(t, "UpdateUser(to another user's email)", err, idp.ErrConflict)
}

func testUserEmailUniqueness(t *testing.T, f Factory) {
	st, _ := newStore(t, f, defaultGrace)
	alice := createUser(t, st, "alice@example.com")
	for _, tt := range []struct {
		name string
		user idp.User
		want error
	}{
		{"same email", idp.User{Email: "alice@example.com"}, idp.ErrConflict},
		{"upper case", idp.User{Email: "ALICE@EXAMPLE.COM"}, idp.ErrConflict},
		{"surrounding spaces", idp.User{Email: "  alice@example.com "}, idp.ErrConflict},
		{"full-width letters (NFKC)", idp.User{Email: "ａｌｉｃｅ@example.com"}, idp.ErrConflict},
		{"same ID", idp.User{ID: alice.ID, Email: "other@example.com"}, idp.ErrConflict},
		{"other email", idp.User{Email: "bob@example.com"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.user
			err := st.CreateUser(t.Context(), &u)
			wantErr(t, fmt.Sprintf("CreateUser(%q)", tt.user.Email), err, tt.want)
		})
	}
}

func testLoginSessions(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	alice := createUser(t, st, "alice@example.com")
	bob := createUser(t, st, "bob@example.com")
	now := clk.Now()

	ls := &idp.LoginSession{
		IDHash: "hash-1", UserID: alice.ID, AuthTime: now.Add(-time.Minute), AMR: []string{"pwd", "otp"},
		ExpiresAt: now.Add(12 * time.Hour),
	}
	if err := st.CreateLoginSession(ctx, ls); err != nil {
		t.Fatalf("CreateLoginSession = %v", err)
	}
	err := st.CreateLoginSession(ctx, &idp.LoginSession{IDHash: "hash-1", UserID: bob.ID, ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "CreateLoginSession(duplicate)", err, idp.ErrConflict)

	got, err := st.GetLoginSession(ctx, "hash-1")
	if err != nil {
		t.Fatalf("GetLoginSession = %v", err)
	}
	if got.IDHash != ls.IDHash || got.UserID != alice.ID || !slices.Equal(got.AMR, ls.AMR) ||
		!equalTime(got.AuthTime, ls.AuthTime) || !equalTime(got.CreatedAt, now) || !equalTime(got.LastSeenAt, now) ||
		!equalTime(got.ExpiresAt, ls.ExpiresAt) {
		t.Errorf("GetLoginSession = %+v, want %+v (created and last seen at %v)", got, ls, now)
	}

	seen := now.Add(5 * time.Minute)
	wantErr(t, "TouchLoginSession", st.TouchLoginSession(ctx, "hash-1", seen), nil)
	if got, err := st.GetLoginSession(ctx, "hash-1"); err != nil || !equalTime(got.LastSeenAt, seen) {
		t.Errorf("after TouchLoginSession: %+v, %v; want LastSeenAt %v", got, err, seen)
	}
	wantErr(t, "TouchLoginSession(unknown)", st.TouchLoginSession(ctx, "nope", seen), idp.ErrNotFound)

	// SID: empty at creation means the ID hash; a later session of the same sign-in shares it,
	// and GetLoginSessionBySID finds the one seen last.
	if got.SID != "hash-1" {
		t.Errorf("SID of a session created without one = %q, want its IDHash", got.SID)
	}
	later := &idp.LoginSession{IDHash: "hash-2", SID: "hash-1", UserID: alice.ID, CreatedAt: seen.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}
	wantErr(t, "CreateLoginSession(same SID)", st.CreateLoginSession(ctx, later), nil)
	if got, err := st.GetLoginSessionBySID(ctx, "hash-1"); err != nil || got.IDHash != "hash-2" || got.SID != "hash-1" {
		t.Errorf("GetLoginSessionBySID = %+v, %v; want the later session hash-2", got, err)
	}
	_, err = st.GetLoginSessionBySID(ctx, "no-such-sid")
	wantErr(t, "GetLoginSessionBySID(unknown)", err, idp.ErrNotFound)
	wantErr(t, "DeleteLoginSession(hash-2)", st.DeleteLoginSession(ctx, "hash-2"), nil)

	wantErr(t, "DeleteLoginSession", st.DeleteLoginSession(ctx, "hash-1"), nil)
	_, err = st.GetLoginSession(ctx, "hash-1")
	wantErr(t, "GetLoginSession(deleted)", err, idp.ErrNotFound)
	wantErr(t, "DeleteLoginSession(deleted again)", st.DeleteLoginSession(ctx, "hash-1"), nil)

	for _, s := range []*idp.LoginSession{
		{IDHash: "a1", UserID: alice.ID, ExpiresAt: now.Add(time.Hour)},
		{IDHash: "a2", UserID: alice.ID, ExpiresAt: now.Add(time.Hour)},
		{IDHash: "b1", UserID: bob.ID, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := st.CreateLoginSession(ctx, s); err != nil {
			t.Fatalf("CreateLoginSession(%q) = %v", s.IDHash, err)
		}
	}
	wantErr(t, "DeleteUserLoginSessions(alice)", st.DeleteUserLoginSessions(ctx, alice.ID), nil)
	for _, c := range []struct {
		idHash string
		want   error
	}{{"a1", idp.ErrNotFound}, {"a2", idp.ErrNotFound}, {"b1", nil}} {
		_, err := st.GetLoginSession(ctx, c.idHash)
		wantErr(t, "GetLoginSession("+c.idHash+") after DeleteUserLoginSessions(alice)", err, c.want)
	}
}

func testConsents(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	alice := createUser(t, st, "alice@example.com")
	createClient(t, st, "web")

	_, err := st.GetConsent(ctx, alice.ID, "web")
	wantErr(t, "GetConsent(none)", err, idp.ErrNotFound)

	created := clk.Now()
	c := &idp.Consent{UserID: alice.ID, ClientID: "web", Scopes: []string{"openid", "todos:read"}, Audiences: []string{"https://api.example"}}
	wantErr(t, "SaveConsent", st.SaveConsent(ctx, c), nil)
	got, err := st.GetConsent(ctx, alice.ID, "web")
	if err != nil {
		t.Fatalf("GetConsent = %v", err)
	}
	if got.UserID != alice.ID || got.ClientID != "web" || !slices.Equal(got.Scopes, c.Scopes) ||
		!slices.Equal(got.Audiences, c.Audiences) || !equalTime(got.CreatedAt, created) || !equalTime(got.UpdatedAt, created) {
		t.Errorf("GetConsent = %+v, want %+v", got, c)
	}

	clk.Advance(time.Hour)
	c2 := &idp.Consent{UserID: alice.ID, ClientID: "web", Scopes: []string{"openid"}}
	wantErr(t, "SaveConsent(again)", st.SaveConsent(ctx, c2), nil)
	got, err = st.GetConsent(ctx, alice.ID, "web")
	if err != nil {
		t.Fatalf("GetConsent after a second SaveConsent = %v", err)
	}
	if !slices.Equal(got.Scopes, []string{"openid"}) || len(got.Audiences) != 0 ||
		!equalTime(got.CreatedAt, created) || !equalTime(got.UpdatedAt, clk.Now()) {
		t.Errorf("GetConsent after a second SaveConsent = %+v; want scopes [openid], no audiences, created %v, updated %v",
			got, created, clk.Now())
	}

	wantErr(t, "DeleteConsent", st.DeleteConsent(ctx, alice.ID, "web"), nil)
	_, err = st.GetConsent(ctx, alice.ID, "web")
	wantErr(t, "GetConsent(deleted)", err, idp.ErrNotFound)
	wantErr(t, "DeleteConsent(deleted)", st.DeleteConsent(ctx, alice.ID, "web"), idp.ErrNotFound)

	// Deleting the client deletes its consents.
	wantErr(t, "SaveConsent", st.SaveConsent(ctx, &idp.Consent{UserID: alice.ID, ClientID: "web", Scopes: []string{"openid"}}), nil)
	wantErr(t, "DeleteClient", st.DeleteClient(ctx, "web"), nil)
	_, err = st.GetConsent(ctx, alice.ID, "web")
	wantErr(t, "GetConsent(client deleted)", err, idp.ErrNotFound)
}

// testListConsents: a user's consents come back oldest first, with every field, and no other
// user's.
func testListConsents(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	alice, bob := createUser(t, st, "alice@example.com"), createUser(t, st, "bob@example.com")
	createClient(t, st, "web")
	createClient(t, st, "other")

	got, err := st.ListConsents(ctx, alice.ID)
	if err != nil || len(got) != 0 {
		t.Fatalf("ListConsents(none) = %v, %v; want none", got, err)
	}
	first := clk.Now()
	wantErr(t, "SaveConsent(alice, other)", st.SaveConsent(ctx, &idp.Consent{UserID: alice.ID, ClientID: "other", Scopes: []string{"openid"}}), nil)
	clk.Advance(time.Minute)
	wantErr(t, "SaveConsent(alice, web)", st.SaveConsent(ctx, &idp.Consent{
		UserID: alice.ID, ClientID: "web", Scopes: []string{"openid", "todos:read"}, Audiences: []string{"https://api.example"},
	}), nil)
	wantErr(t, "SaveConsent(bob, web)", st.SaveConsent(ctx, &idp.Consent{UserID: bob.ID, ClientID: "web", Scopes: []string{"openid"}}), nil)

	got, err = st.ListConsents(ctx, alice.ID)
	if err != nil || len(got) != 2 {
		t.Fatalf("ListConsents(alice) = %v, %v; want two consents", got, err)
	}
	if c := got[0]; c.UserID != alice.ID || c.ClientID != "other" || !slices.Equal(c.Scopes, []string{"openid"}) ||
		len(c.Audiences) != 0 || !equalTime(c.CreatedAt, first) || !equalTime(c.UpdatedAt, first) {
		t.Errorf("ListConsents(alice)[0] = %+v, want alice's consent to other, created %v", c, first)
	}
	if c := got[1]; c.UserID != alice.ID || c.ClientID != "web" || !slices.Equal(c.Scopes, []string{"openid", "todos:read"}) ||
		!slices.Equal(c.Audiences, []string{"https://api.example"}) || !equalTime(c.CreatedAt, clk.Now()) {
		t.Errorf("ListConsents(alice)[1] = %+v, want alice's consent to web, created %v", c, clk.Now())
	}
	wantErr(t, "DeleteConsent(alice, other)", st.DeleteConsent(ctx, alice.ID, "other"), nil)
	got, err = st.ListConsents(ctx, alice.ID)
	if err != nil || len(got) != 1 || got[0].ClientID != "web" {
		t.Errorf("ListConsents(alice) after DeleteConsent(other) = %v, %v; want the consent to web only", got, err)
	}
}

// testRevokeSubjectClientTokens (CO-05): withdrawing one client's access revokes the refresh
// tokens, deletes the access tokens and voids the codes of that subject for that client only; a
// rolled-back transaction leaves them all.
func testRevokeSubjectClientTokens(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	now := clk.Now()
	web, other := createClient(t, st, "web"), createClient(t, st, "other")
	grants := []struct {
		name    string
		client  *idp.Client
		subject string
	}{{"alice-web", web, "alice"}, {"alice-other", other, "alice"}, {"bob-web", web, "bob"}}
	for _, g := range grants {
		req := newRequest(g.client, "req-"+g.name, newSession(g.subject, g.client.ID, now), now)
		for _, step := range []struct {
			name string
			err  error
		}{
			{"code", st.CreateAuthorizeCodeSession(ctx, "code-"+g.name, req)},
			{"access token", st.CreateAccessTokenSession(ctx, "at-"+g.name, req)},
			{"refresh token", st.CreateRefreshTokenSession(ctx, "rt-"+g.name, "at-"+g.name, req)},
		} {
			if step.err != nil {
				t.Fatalf("create %s's %s = %v", g.name, step.name, step.err)
			}
		}
	}
	untouched := func(name string) {
		t.Helper()
		wantAccess(t, st, "at-"+name, nil)
		wantRefresh(t, st, "rt-"+name, nil, "req-"+name)
		_, err := st.GetAuthorizeCodeSession(ctx, "code-"+name, idp.NewSession())
		wantErr(t, "GetAuthorizeCodeSession("+name+")", err, nil)
	}

	// In a transaction that is rolled back, nothing changes.
	txCtx, err := st.BeginTX(ctx)
	if err != nil {
		t.Fatalf("BeginTX = %v", err)
	}
	wantErr(t, "RevokeSubjectClientTokens(alice, web) in transaction", st.RevokeSubjectClientTokens(txCtx, "alice", "web"), nil)
	wantErr(t, "Rollback", st.Rollback(txCtx), nil)
	for _, g := range grants {
		untouched(g.name)
	}

	wantErr(t, "RevokeSubjectClientTokens(alice, web)", st.RevokeSubjectClientTokens(ctx, "alice", "web"), nil)
	wantAccess(t, st, "at-alice-web", fosite.ErrNotFound)
	wantRefresh(t, st, "rt-alice-web", fosite.ErrInactiveToken, "req-alice-web")
	_, err = st.GetAuthorizeCodeSession(ctx, "code-alice-web", idp.NewSession())
	wantErr(t, "GetAuthorizeCodeSession(alice-web)", err, fosite.ErrInvalidatedAuthorizeCode)
	untouched("alice-other")
	untouched("bob-web")

	// Again, and for a client with nothing or no such client: nothing to do, no error.
	wantErr(t, "RevokeSubjectClientTokens(alice, web) again", st.RevokeSubjectClientTokens(ctx, "alice", "web"), nil)
	wantErr(t, "RevokeSubjectClientTokens(alice, unknown)", st.RevokeSubjectClientTokens(ctx, "alice", "unknown"), nil)
	untouched("alice-other")
	untouched("bob-web")
	if err := st.RevokeSubjectClientTokens(ctx, "", "web"); err == nil {
		t.Errorf("RevokeSubjectClientTokens(\"\", web) = nil, want an error")
	}
	if err := st.RevokeSubjectClientTokens(ctx, "alice", ""); err == nil {
		t.Errorf("RevokeSubjectClientTokens(alice, \"\") = nil, want an error")
	}
}

func testSigningKeys(t *testing.T, f Factory) {
	st, clk := newStore(t, f, defaultGrace)
	ctx := t.Context()
	now := clk.Now()
	keys := map[string]*idp.SigningKey{
		"k1": {KID: "k1", Alg: "RS256", State: idp.KeyRetired, CreatedAt: now.Add(-2 * time.Hour), ActivatedAt: now.Add(-2 * time.Hour), RetiredAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)},
		"k2": {KID: "k2", Alg: "RS256", State: idp.KeyActive, CreatedAt: now.Add(-time.Hour), ActivatedAt: now.Add(-time.Hour)},
		"k3": {KID: "k3", Alg: "RS256", State: idp.KeyNext, CreatedAt: now},
	}
	for _, kid := range []string{"k2", "k3", "k1"} {
		k := keys[kid]
		k.PublicJWK = []byte(`{"kty":"RSA","kid":"` + kid + `","n":"AQAB","e":"AQAB"}`)
		k.PrivateEnc = []byte("encrypted private key " + kid + "\x00\xff")
		if err := st.CreateSigningKey(ctx, k); err != nil {
			t.Fatalf("CreateSigningKey(%q) = %v", kid, err)
		}
	}
	err := st.CreateSigningKey(ctx, &idp.SigningKey{KID: "k1", Alg: "RS256", State: idp.KeyNext, PublicJWK: []byte("{}"), PrivateEnc: []byte("x")})
	wantErr(t, "CreateSigningKey(duplicate KID)", err, idp.ErrConflict)

	list, err := st.ListSigningKeys(ctx)
	if err != nil {
		t.Fatalf("ListSigningKeys = %v", err)
	}
	var kids []string
	for _, k := range list {
		kids = append(kids, k.KID)
		w := keys[k.KID]
		if k.Alg != w.Alg || k.State != w.State || !bytes.Equal(k.PublicJWK, w.PublicJWK) || !bytes.Equal(k.PrivateEnc, w.PrivateEnc) ||
			!equalTime(k.CreatedAt, w.CreatedAt) || !equalTime(k.ActivatedAt, w.ActivatedAt) ||
			!equalTime(k.RetiredAt, w.RetiredAt) || !equalTime(k.ExpiresAt, w.ExpiresAt) {
			t.Errorf("ListSigningKeys: %s = %+v, want %+v", k.KID, k, w)
		}
	}
	if want := []string{"k3", "k2", "k1"}; !slices.Equal(kids, want) {
		t.Errorf("ListSigningKeys KIDs = %q, want %q (newest first)", kids, want)
	}

	err = st.UpdateSigningKey(ctx, "k3", func(k *idp.SigningKey) error {
		k.State, k.ActivatedAt = idp.KeyActive, now.Add(time.Minute)
		return nil
	})
	wantErr(t, "UpdateSigningKey", err, nil)
	list, _ = st.ListSigningKeys(ctx)
	if len(list) == 0 || list[0].KID != "k3" || list[0].State != idp.KeyActive || !equalTime(list[0].ActivatedAt, now.Add(time.Minute)) {
		t.Errorf("after UpdateSigningKey, newest key = %+v, want k3 active", list[0])
	}
	err = st.UpdateSigningKey(ctx, "nope", func(*idp.SigningKey) error { return nil })
	wantErr(t, "UpdateSigningKey(unknown)", err, idp.ErrNotFound)

	wantErr(t, "DeleteSigningKey", st.DeleteSigningKey(ctx, "k1"), nil)
	wantErr(t, "DeleteSigningKey(deleted)", st.DeleteSigningKey(ctx, "k1"), idp.ErrNotFound)
	if list, _ := st.ListSigningKeys(ctx); len(list) != 2 {
		t.Errorf("after DeleteSigningKey, %d keys, want 2", len(list))
	}
}
