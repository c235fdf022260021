package e2e_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/resource"
)

// recordingAuthorizer allows exactly the (subject, action, object prefix) rules it holds and
// records the subjects it was asked about: a hand-written stand-in for the Casbin enforcer.
type recordingAuthorizer struct {
	mu    sync.Mutex
	rules map[[2]string]string // subject, action → object prefix
	asked []string
}

func (a *recordingAuthorizer) Authorize(_ context.Context, subject, object, action string) (resource.Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.asked = append(a.asked, subject+" "+action+" "+object)
	prefix, ok := a.rules[[2]string{subject, action}]
	return resource.Decision{Allowed: ok && strings.HasPrefix(object, prefix), Revision: 3}, nil
}

func (a *recordingAuthorizer) allow(subject, action, prefix string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rules[[2]string{subject, action}] = prefix
}

// TestPolicyHookWithRealTokens_RB05_RB06_RS11: with an Authorizer on the API, tokens of the real
// provider are checked as user:<sub> or client:<client_id>. A read-only token cannot write
// although its user's policy allows it (RB-06); the admin route opens for her only once a rule
// grants it; a client cannot be registered with alice's sub as its client_id, and a machine
// client's token is client:<its id>, gets none of a user's grants, even one named like it, and
// no access to todos (RB-05, RS-11).
func TestPolicyHookWithRealTokens_RB05_RB06_RS11(t *testing.T) {
	p := startProvider(t)
	authz := &recordingAuthorizer{rules: map[[2]string]string{}}
	api := startTodosWith(t, p, resource.Config{Authorizer: authz, AdminWithoutIntrospection: true})
	full := p.userToken(t, "alice@example.com", "openid", "todos:read", "todos:write", "todos:admin")
	sub := claimsOf(t, full)["sub"].(string)
	// Rita holds the same policy as alice but signed in granting only todos:read.
	readOnly, _ := p.userTokensVia(t, p.srv.URL, "rita@example.com", "openid", "todos:read")
	readOnlySub := claimsOf(t, readOnly)["sub"].(string)
	for _, s := range []string{sub, readOnlySub} {
		for _, m := range []string{"GET", "POST", "PATCH", "PUT", "DELETE"} {
			authz.allow("user:"+s, m, "/api/v1/todos")
		}
	}

	if r := call(t, api, full, "POST", "/api/v1/todos", `{"title":"alice's"}`); r.status != 201 || r.header.Get(resource.PolicyRevisionHeader) != "3" {
		t.Fatalf("alice creates: %d %s (revision %q)", r.status, r.body, r.header.Get(resource.PolicyRevisionHeader))
	}
	// RB-06: the policy allows POST, the token's scope does not.
	if r := call(t, api, readOnly, "POST", "/api/v1/todos", `{"title":"x"}`); r.status != 403 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("read-only token writes: %d %s", r.status, r.header.Get("WWW-Authenticate"))
	}
	// The admin route: closed without a grant, open with one.
	if r := call(t, api, full, "GET", "/api/v1/admin/todos", ""); r.status != 403 {
		t.Errorf("admin route without a grant: %d %s", r.status, r.body)
	}
	authz.allow("user:"+sub, "GET", "/api/v1/admin/todos")
	if r := call(t, api, full, "GET", "/api/v1/admin/todos", ""); r.status != 200 || !strings.Contains(string(r.body), `"ownerId":"`+sub+`"`) {
		t.Errorf("admin route with a grant: %d %s", r.status, r.body)
	}

	// RS-11 / RB-05: a machine client cannot take alice's sub as its client_id (the store
	// refuses it, review F9), and a machine client's token is checked as client:<id>.
	if err := p.store.CreateClient(t.Context(), &idp.Client{ID: sub, Name: "twin", SecretHash: idp.HashClientSecret([]byte(idp.GenerateClientSecret())),
		TokenEndpointAuthMethod: idp.AuthMethodBasic, GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read"},
		Audiences: []string{apiAudience}, CreatedAt: time.Now(), UpdatedAt: time.Now()}); !errors.Is(err, idp.ErrConflict) {
		t.Fatalf("CreateClient with alice's sub as its ID: %v, want ErrConflict", err)
	}
	cc := p.machineClient(t, apiAudience)
	twin := p.token(t, cc)
	sub = cc.ClientID
	if c := claimsOf(t, twin); c["sub"] != sub || c["client_id"] != sub {
		t.Fatalf("machine token: sub %v client_id %v, want both %s", c["sub"], c["client_id"], sub)
	}
	authz.allow("user:"+sub, "GET", "/api/v1/") // a user rule named like the client: not the client's
	authz.mu.Lock()
	authz.asked = nil
	authz.mu.Unlock()
	for _, path := range []string{"/api/v1/todos", "/api/v1/admin/todos"} {
		if r := call(t, api, twin, "GET", path, ""); r.status != 403 {
			t.Errorf("client twin GET %s: %d %s, want 403", path, r.status, r.body)
		}
	}
	authz.mu.Lock()
	defer authz.mu.Unlock()
	for _, a := range authz.asked {
		if !strings.HasPrefix(a, "client:"+sub+" ") {
			t.Errorf("the twin was checked as %q, want client:%s", a, sub)
		}
	}
}
