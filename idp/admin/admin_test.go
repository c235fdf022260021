package admin_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/admin"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-id/gatehouse/policies"
)

// revisionBody is the part of an admin.Revision the tests read.
type revisionBody struct {
	Revision     int64           `json:"revision"`
	Actor        string          `json:"actor"`
	Added        []policies.Rule `json:"added"`
	Removed      []policies.Rule `json:"removed"`
	RestoredFrom int64           `json:"restored_from"`
	Diff         []string        `json:"diff"`
}

func has(rules []policies.Rule, r policies.Rule) bool { return slices.Contains(rules, r) }

// TestAdminAuthentication_RB08_VU04: who may call the admin API. No token: 401 with a bare
// RFC 6750 challenge; a malformed header or a token that is not a live access token of this
// provider (garbage, revoked, of a disabled user): 401 invalid_token; a token without gatehouse:admin, even an
// admin's: 403 insufficient_scope naming the scope; a non-admin with the scope, and a client
// with the scope but no policy: 403 (RB-08); the admin and, once granted role:admin, the client:
// 200. A delegated reader may read but not change. Nothing is changed by a refused request.
func TestAdminAuthentication_RB08_VU04(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		e.user("bob@example.com")
		ritaSub := e.user("rita@example.com")
		e.bootstrap(alice)
		adminTok := e.login("alice@example.com", "openid", admin.Scope)
		noScope := e.login("alice@example.com", "openid")
		bobTok := e.login("bob@example.com", "openid", admin.Scope)
		svc, cc := e.machine(admin.Scope)
		svcTok := e.token(cc)
		_, ccNoScope := e.machine("other:scope")
		svcNoScope := e.token(ccNoScope)
		before := e.policy().Revision
		add := `{"add":[{"type":"p","subject":"role:user","object":"/api/v1/reports","action":"GET","effect":"allow"}]}`

		for _, tc := range []struct {
			name, auth string
			withAuth   bool
			status     int
			challenge  string
		}{
			{"no token", "", false, 401, `Bearer realm="gatehouse"`},
			{"basic scheme", "Basic YTpi", true, 401, `Bearer realm="gatehouse", error="invalid_request"`},
			{"empty bearer", "Bearer ", true, 401, `Bearer realm="gatehouse", error="invalid_request"`},
			{"garbage token", "Bearer abc.def.ghi", true, 401, `Bearer realm="gatehouse", error="invalid_token"`},
			{"admin without the scope", "Bearer " + noScope, true, 403, `Bearer realm="gatehouse", error="insufficient_scope", scope="gatehouse:admin"`},
			{"client without the scope", "Bearer " + svcNoScope, true, 403, `Bearer realm="gatehouse", error="insufficient_scope", scope="gatehouse:admin"`},
			{"RB-08 non-admin user with the scope", "Bearer " + bobTok, true, 403, ""},
			{"RB-08 client with the scope but no policy", "Bearer " + svcTok, true, 403, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, m := range []struct{ method, path, body string }{
					{"GET", "/admin/v1/policies", ""}, {"POST", "/admin/v1/policies", add},
					{"GET", "/admin/v1/roles", ""}, {"POST", "/admin/v1/policies/check", `{"subject":"role:admin","object":"/admin/v1/policies","action":"GET"}`},
					{"GET", "/admin/v1/revisions", ""}, {"POST", "/admin/v1/revisions/1/restore", ""},
				} {
					r := e.callHeader(m.method, m.path, m.body, tc.auth, tc.withAuth)
					if r.status != tc.status || r.header.Get("WWW-Authenticate") != tc.challenge || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
						t.Errorf("%s %s: %d %q %q %s; want %d %q problem+json", m.method, m.path, r.status, r.header.Get("WWW-Authenticate"), r.header.Get("Content-Type"), r.body, tc.status, tc.challenge)
					}
				}
			})
		}
		if got := e.policy().Revision; got != before {
			t.Fatalf("refused requests changed the policy: revision %d → %d", before, got)
		}

		// The admin may; so may the client once it holds role:admin (granted by the admin).
		if r := e.call(adminTok, "GET", "/admin/v1/policies", ""); r.status != 200 || r.header.Get("Gatehouse-Policy-Revision") != strconv.FormatInt(before, 10) ||
			r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("admin GET policies: %d %v %s", r.status, r.header, r.body)
		}
		if r := e.call(adminTok, "POST", "/admin/v1/roles", `{"assign":[{"subject":"`+svc+`","role":"role:admin"}],"comment":"automation"}`); r.status != 201 {
			t.Fatalf("assign role:admin to the client: %d %s", r.status, r.body)
		}
		if r := e.call(svcTok, "POST", "/admin/v1/policies", add); r.status != 201 {
			t.Fatalf("client admin adds a rule: %d %s", r.status, r.body)
		}

		// The OpenAPI document is public (it describes the API, it reveals no policy).
		if r := e.call("", "GET", "/admin/v1/openapi.json", ""); r.status != 200 || !strings.Contains(string(r.body), `"/admin/v1/revisions/{rev}/restore"`) {
			t.Errorf("openapi.json: %d %.200s", r.status, r.body)
		}

		// A delegated reader: GET on the admin API only.
		if r := e.call(adminTok, "POST", "/admin/v1/policies", `{"add":[{"type":"p","subject":"`+ritaSub+`","object":"/admin/v1/*","action":"GET","effect":"allow"}]}`); r.status != 201 {
			t.Fatalf("grant rita read access: %d %s", r.status, r.body)
		}
		ritaTok := e.login("rita@example.com", "openid", admin.Scope)
		if r := e.call(ritaTok, "GET", "/admin/v1/revisions?limit=1", ""); r.status != 200 {
			t.Errorf("reader GET revisions: %d %s", r.status, r.body)
		}
		if r := e.call(ritaTok, "POST", "/admin/v1/policies", `{"add":[{"type":"p","subject":"`+ritaSub+`","object":"/api/v1/*","action":"*","effect":"allow"}]}`); r.status != 403 {
			t.Errorf("reader POST policies: %d %s, want 403", r.status, r.body)
		}

		// A revoked token is refused at once (the admin API checks storage, not only the JWT).
		form := url.Values{"token": {svcTok}}
		req, _ := http.NewRequestWithContext(t.Context(), "POST", e.srv.URL+"/oauth2/revoke", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(cc.ClientID, cc.ClientSecret)
		resp, err := e.srv.Client().Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke: %v %v", resp, err)
		}
		resp.Body.Close()
		if r := e.call(svcTok, "GET", "/admin/v1/policies", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("revoked token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		// So is the token of a user disabled since it was issued.
		bobUser, err := e.store.GetUserByEmail(t.Context(), "bob@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.UpdateUser(t.Context(), bobUser.ID, func(u *idp.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if r := e.call(bobTok, "GET", "/admin/v1/policies", ""); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("disabled user's token: %d %q", r.status, r.header.Get("WWW-Authenticate"))
		}
		// Taking role:admin away from the client closes the API to it at once.
		svcTok2 := e.token(cc)
		if r := e.call(adminTok, "POST", "/admin/v1/roles", `{"unassign":[{"subject":"`+svc+`","role":"role:admin"}]}`); r.status != 201 {
			t.Fatalf("unassign: %d %s", r.status, r.body)
		}
		if r := e.call(svcTok2, "GET", "/admin/v1/policies", ""); r.status != 403 {
			t.Errorf("client after unassign: %d %s, want 403", r.status, r.body)
		}
	})
}

// TestAdminBadInput_SE09: malformed requests get a 4xx problem+json, never a 500, and change
// nothing.
func TestAdminBadInput_SE09(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		e.bootstrap(alice)
		tok := e.login("alice@example.com", "openid", admin.Scope)
		before := e.policy().Revision
		big := `{"comment":"` + strings.Repeat("x", 2<<20) + `"}`
		for _, tc := range []struct {
			name, method, path, body string
			status                   int
		}{
			{"not JSON", "POST", "/admin/v1/policies", `{"add":[`, 400},
			{"wrong type", "POST", "/admin/v1/policies", `{"add":"p, a, b"}`, 422},
			{"unknown field", "POST", "/admin/v1/policies", `{"add":[],"remove":[],"admin":true}`, 422},
			{"unknown rule field", "POST", "/admin/v1/policies", `{"add":[{"type":"p","subject":"role:user","object":"/api/v1/x","action":"GET","effect":"allow","v5":"x"}]}`, 422},
			{"empty batch", "POST", "/admin/v1/policies", `{}`, 422},
			{"body too large", "POST", "/admin/v1/policies", big, 413},
			{"roles unknown field", "POST", "/admin/v1/roles", `{"assign":[{"subject":"user:x","role":"role:user","sudo":1}]}`, 422},
			{"check missing fields", "POST", "/admin/v1/policies/check", `{}`, 422},
			{"check bad path", "POST", "/admin/v1/policies/check", `{"subject":"user:x","object":"/api/v1/../admin","action":"GET"}`, 422},
			{"check bad action", "POST", "/admin/v1/policies/check", `{"subject":"user:x","object":"/api/v1/todos","action":"get"}`, 422},
			{"check role-less subject", "POST", "/admin/v1/policies/check", `{"subject":"admin","object":"/api/v1/todos","action":"GET"}`, 422},
			{"revision not a number", "GET", "/admin/v1/revisions/abc", "", 422},
			{"revision zero", "GET", "/admin/v1/revisions/0", "", 422},
			{"revision unknown", "GET", "/admin/v1/revisions/99999", "", 404},
			{"revision dot-dot", "GET", "/admin/v1/revisions/..%2F..%2Fpolicies", "", 404},
			{"restore unknown", "POST", "/admin/v1/revisions/99999/restore", "", 404},
			{"restore bad body", "POST", "/admin/v1/revisions/1/restore", `{"comment":1}`, 422},
			{"limit out of range", "GET", "/admin/v1/revisions?limit=5000", "", 422},
			{"unknown route", "GET", "/admin/v1/nothing", "", 404},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.call(tok, tc.method, tc.path, tc.body)
				if r.status != tc.status {
					t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, r.status, r.body, tc.status)
				}
				if ct := r.header.Get("Content-Type"); tc.name != "unknown route" && !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("%s %s: Content-Type %q, want problem+json", tc.method, tc.path, ct)
				}
			})
		}
		if got := e.policy().Revision; got != before {
			t.Fatalf("bad requests changed the policy: revision %d → %d", before, got)
		}
	})
}

// TestAdminInvalidBatchChangesNothing_RB08: a batch with one good rule and bad ones is refused
// whole with 422, one error per bad rule naming its place (body.add[i]) and why; the policy
// reads back unchanged, at the same revision.
func TestAdminInvalidBatchChangesNothing_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		e.bootstrap(alice)
		tok := e.login("alice@example.com", "openid", admin.Scope)
		before := e.policy()
		good := policies.Allowing("role:user", "/api/v1/reports", "GET")
		body := mustJSON(t, map[string]any{
			"add": []policies.Rule{
				good,
				policies.Allowing("role:user", "/*", "GET"),                   // everything (RB-08)
				policies.Allowing("role:user", "/api/v1/todos.*", "GET"),      // regex metacharacters
				policies.Allowing("user:a,b", "/api/v1/todos", "GET"),         // comma in the subject
				policies.Allowing("role:user", "/api/v1/todos", "FORGET"),     // unknown action
				policies.Allowing("role:user", "/api/v1/todos", "get"),        // lower-case action (RB-04)
				policies.Allowing("role:user", "/api/v1/*/admin", "GET"),      // '*' not last
				policies.Allowing("role:user", "/api/v1/todos\neval(", "GET"), // newline, expression
			},
			"remove":  []policies.Rule{policies.Allowing("role:user", "/api/v1/nothing", "GET")},
			"comment": "mixed batch",
		})
		r := e.call(tok, "POST", "/admin/v1/policies", body)
		var p problem
		r.json(t, &p)
		if r.status != 422 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("invalid batch: %d %s", r.status, r.body)
		}
		locs := map[string]string{}
		for _, d := range p.Errors {
			locs[d.Location] = d.Message
		}
		for _, want := range []string{"body.add[1]", "body.add[2]", "body.add[3]", "body.add[4]", "body.add[5]", "body.add[6]", "body.add[7]", "body.remove[0]"} {
			if locs[want] == "" {
				t.Errorf("no error at %s; got %v", want, locs)
			}
		}
		if _, ok := locs["body.add[0]"]; ok {
			t.Errorf("the good rule was reported: %v", locs)
		}
		after := e.policy()
		if after.Revision != before.Revision || len(after.Permissions) != len(before.Permissions) || len(after.Assignments) != len(before.Assignments) || has(after.Permissions, good) {
			t.Fatalf("the refused batch changed the policy: %+v → %+v", before, after)
		}
		// Read back through the API too.
		var listed policies.Policy
		e.call(tok, "GET", "/admin/v1/policies", "").json(t, &listed)
		if listed.Revision != before.Revision || has(listed.Permissions, good) {
			t.Fatalf("API read-back: %+v", listed)
		}
		// The undefined role alone (the grammar passes): 422 too.
		r = e.call(tok, "POST", "/admin/v1/roles", `{"assign":[{"subject":"`+alice+`","role":"role:ghost"}]}`)
		r.json(t, &p)
		if r.status != 422 || len(p.Errors) != 1 || p.Errors[0].Location != "body.assign[0]" || !strings.Contains(p.Errors[0].Message, "unknown role") {
			t.Fatalf("unknown role: %d %s", r.status, r.body)
		}
	})
}

// TestAdminConcurrentAdmins: two admins add different rules at the same moment; both succeed as
// separate revisions, each recording its admin, and both rules are in the policy.
func TestAdminConcurrentAdmins(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		subs := []string{e.user("alice@example.com"), e.user("bob@example.com")}
		e.bootstrap(subs[0])
		e.bootstrap(subs[1])
		toks := []string{e.login("alice@example.com", "openid", admin.Scope), e.login("bob@example.com", "openid", admin.Scope)}
		for round := range 5 {
			rules := []policies.Rule{
				policies.Allowing("role:user", "/api/v1/alpha"+strconv.Itoa(round), "GET"),
				policies.Allowing("role:user", "/api/v1/beta"+strconv.Itoa(round), "GET"),
			}
			var wg sync.WaitGroup
			start := make(chan struct{})
			replies := make([]reply, 2)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					replies[i] = e.call(toks[i], "POST", "/admin/v1/policies", mustJSON(t, map[string]any{"add": []policies.Rule{rules[i]}}))
				}()
			}
			close(start)
			wg.Wait()
			revs := map[int64]bool{}
			for i, r := range replies {
				var rev revisionBody
				r.json(t, &rev)
				if r.status != 201 || rev.Actor != subs[i] || !has(rev.Added, rules[i]) || r.header.Get("Location") != "/admin/v1/revisions/"+strconv.FormatInt(rev.Revision, 10) {
					t.Fatalf("round %d admin %d: %d %v %s", round, i, r.status, r.header, r.body)
				}
				revs[rev.Revision] = true
			}
			if len(revs) != 2 {
				t.Fatalf("round %d: both changes got one revision: %v", round, revs)
			}
			p := e.policy()
			if !has(p.Permissions, rules[0]) || !has(p.Permissions, rules[1]) {
				t.Fatalf("round %d: a rule was lost: %+v", round, p.Permissions)
			}
		}
	})
}

// TestAdminRestoreAndAudit: every change through the API is a revision whose actor is the
// caller (user:<sub> or client:<id>), with its diff; restoring an earlier revision brings its
// rules back as a new revision (restored_from, actor the restorer); restoring again is 409;
// revisions page with next_before.
func TestAdminRestoreAndAudit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		e.bootstrap(alice)
		tok := e.login("alice@example.com", "openid", admin.Scope)
		svc, cc := e.machine(admin.Scope)
		x := policies.Allowing("role:user", "/api/v1/reports", "GET")
		y := policies.Denying("role:user", "/api/v1/todos/:id", "DELETE")

		post := func(tok, path string, v any) revisionBody {
			t.Helper()
			r := e.call(tok, "POST", path, mustJSON(t, v))
			var rev revisionBody
			r.json(t, &rev)
			if r.status != 201 {
				t.Fatalf("POST %s: %d %s", path, r.status, r.body)
			}
			return rev
		}
		r1 := post(tok, "/admin/v1/roles", map[string]any{"assign": []map[string]string{{"subject": svc, "role": "role:admin"}}})
		svcTok := e.token(cc)
		r2 := post(tok, "/admin/v1/policies", map[string]any{"add": []policies.Rule{x, y}, "comment": "reports, no deletes"})
		r3 := post(svcTok, "/admin/v1/policies", map[string]any{"remove": []policies.Rule{x, y}})
		if has(e.policy().Permissions, x) {
			t.Fatal("x still there after its removal")
		}
		r4 := post(tok, "/admin/v1/revisions/"+strconv.FormatInt(r2.Revision, 10)+"/restore", map[string]any{"comment": "undo " + strconv.FormatInt(r3.Revision, 10)})
		if r4.RestoredFrom != r2.Revision || r4.Actor != alice || !has(r4.Added, x) || !has(r4.Added, y) || len(r4.Removed) != 0 || r4.Revision != r3.Revision+1 {
			t.Fatalf("restore: %+v", r4)
		}
		if p := e.policy(); !has(p.Permissions, x) || !has(p.Permissions, y) || p.Revision != r4.Revision {
			t.Fatalf("after restore: %+v", p)
		}
		// A restore with no body; the policy already is revision r2's: 409.
		if r := e.call(tok, "POST", "/admin/v1/revisions/"+strconv.FormatInt(r2.Revision, 10)+"/restore", ""); r.status != 409 {
			t.Fatalf("restore again: %d %s", r.status, r.body)
		}

		// The audit trail: who made each change, and its diff.
		var got revisionBody
		e.call(tok, "GET", "/admin/v1/revisions/"+strconv.FormatInt(r3.Revision, 10), "").json(t, &got)
		if got.Actor != svc || !slices.Contains(got.Diff, "- "+x.String()) || !slices.Contains(got.Diff, "- "+y.String()) {
			t.Fatalf("revision %d: %+v", r3.Revision, got)
		}
		want := map[int64]string{r1.Revision: alice, r2.Revision: alice, r3.Revision: svc, r4.Revision: alice, r1.Revision - 1: "cli:operator", 1: "migration"}
		var all []revisionBody
		before := ""
		for page := 0; ; page++ {
			var resp struct {
				Revisions  []revisionBody `json:"revisions"`
				NextBefore int64          `json:"next_before"`
			}
			r := e.call(tok, "GET", "/admin/v1/revisions?limit=2"+before, "")
			r.json(t, &resp)
			if r.status != 200 || len(resp.Revisions) > 2 || page > 10 {
				t.Fatalf("revisions page %d: %d %s", page, r.status, r.body)
			}
			all = append(all, resp.Revisions...)
			if resp.NextBefore == 0 {
				break
			}
			before = "&before=" + strconv.FormatInt(resp.NextBefore, 10)
		}
		if len(all) != len(want) {
			t.Fatalf("revisions: got %d, want %d: %+v", len(all), len(want), all)
		}
		for i, r := range all {
			if i > 0 && r.Revision >= all[i-1].Revision {
				t.Errorf("revisions not newest first: %d after %d", r.Revision, all[i-1].Revision)
			}
			if want[r.Revision] != r.Actor {
				t.Errorf("revision %d: actor %q, want %q", r.Revision, r.Actor, want[r.Revision])
			}
		}
	})
}

// TestAdminLockout: changes that would leave no user able to administer the policy are refused
// (422, nothing saved): unassigning the last admin, denying the admin the admin API, removing
// role:admin's grant. With a second admin, the first may step down.
func TestAdminLockout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		bob := e.user("bob@example.com")
		e.bootstrap(alice)
		tok := e.login("alice@example.com", "openid", admin.Scope)
		before := e.policy().Revision
		for _, tc := range []struct{ name, path, body string }{
			{"unassign the last admin", "/admin/v1/roles", `{"unassign":[{"subject":"` + alice + `","role":"role:admin"}]}`},
			{"deny the admin API", "/admin/v1/policies", mustJSON(t, map[string]any{"add": []policies.Rule{policies.Denying(alice, "/admin/v1/*", "*")}})},
			{"remove role:admin's grant", "/admin/v1/policies", mustJSON(t, map[string]any{"remove": []policies.Rule{policies.Allowing("role:admin", "/admin/v1/*", "*")}})},
		} {
			r := e.call(tok, "POST", tc.path, tc.body)
			var p problem
			r.json(t, &p)
			if r.status != 422 || len(p.Errors) == 0 || !strings.Contains(p.Errors[0].Message, "no user with access to the admin API") {
				t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			}
		}
		if got := e.policy().Revision; got != before {
			t.Fatalf("refused lockouts changed the policy: %d → %d", before, got)
		}
		if r := e.call(tok, "POST", "/admin/v1/roles", `{"assign":[{"subject":"`+bob+`","role":"role:admin"}]}`); r.status != 201 {
			t.Fatalf("second admin: %d %s", r.status, r.body)
		}
		if r := e.call(tok, "POST", "/admin/v1/roles", `{"unassign":[{"subject":"`+alice+`","role":"role:admin"}],"comment":"stepping down"}`); r.status != 201 {
			t.Fatalf("step down: %d %s", r.status, r.body)
		}
		if r := e.call(tok, "GET", "/admin/v1/policies", ""); r.status != 403 {
			t.Fatalf("former admin: %d, want 403", r.status)
		}
	})
}

// TestAdminEscalation_RB08: a delegated admin may change roles but not grant what it may not do
// itself: assigning role:admin, adding an allow it lacks, lifting a deny on itself, dropping a
// restricting role, or restoring a revision from before its restrictions is 403 naming each
// rule, and nothing is saved; assigning a role whose grants it has works, and the full admin
// may lift the restrictions.
func TestAdminEscalation_RB08(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		dana := e.user("dana@example.com")
		carl := e.user("carl@example.com")
		e.bootstrap(alice)
		atok := e.login("alice@example.com", "openid", admin.Scope)
		// Dana: the admin API and role:user's routes, but not role:admin's everything; and a
		// deny on the admin todos view.
		e.setup(atok,
			policies.Allowing(dana, "/admin/v1/*", "*"),
			policies.Assigning(dana, "role:user"),
			policies.Denying(dana, "/api/v1/admin/todos", "GET"),
			policies.Denying("role:restricted", "/api/v1/categories", "POST"),
			policies.Assigning(dana, "role:restricted"),
			policies.Allowing("role:reader", "/api/v1/todos", "GET"),
		)
		dtok := e.login("dana@example.com", "openid", admin.Scope)
		before := e.policy().Revision
		for _, tc := range []struct{ name, path, body string }{
			{"assign role:admin", "/admin/v1/roles", `{"assign":[{"subject":"` + dana + `","role":"role:admin"}]}`},
			{"allow itself everything", "/admin/v1/policies", mustJSON(t, map[string]any{"add": []policies.Rule{policies.Allowing(dana, "/api/v1/*", "*")}})},
			{"lift its deny", "/admin/v1/policies", mustJSON(t, map[string]any{"remove": []policies.Rule{policies.Denying(dana, "/api/v1/admin/todos", "GET")}})},
			{"drop its restricting role", "/admin/v1/roles", `{"unassign":[{"subject":"` + dana + `","role":"role:restricted"}]}`},
			{"restore the policy before its restrictions", "/admin/v1/revisions/2/restore", ""},
		} {
			r := e.call(dtok, "POST", tc.path, tc.body)
			var p problem
			r.json(t, &p)
			if r.status != 403 || len(p.Errors) == 0 || !strings.Contains(p.Errors[0].Message, "may not grant it") {
				t.Errorf("%s: %d %s, want 403 naming the rule", tc.name, r.status, r.body)
			}
		}
		if got := e.policy().Revision; got != before {
			t.Fatalf("refused escalations changed the policy: %d → %d", before, got)
		}
		if r := e.call(dtok, "POST", "/admin/v1/roles", `{"assign":[{"subject":"`+carl+`","role":"role:reader"}]}`); r.status != 201 {
			t.Fatalf("assign role:reader: %d %s", r.status, r.body)
		}
		// The full admin may lift dana's restrictions: it may do what they forbid.
		if r := e.call(atok, "POST", "/admin/v1/roles", `{"unassign":[{"subject":"`+dana+`","role":"role:restricted"}]}`); r.status != 201 {
			t.Fatalf("admin unassigns role:restricted: %d %s", r.status, r.body)
		}
	})
}

// TestAdminCheck: the dry run answers allowed and the deciding rule for users, clients and
// roles, deny over allow, and default deny with no rule.
func TestAdminCheck_RB01(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, newDB func(t *testing.T) *database.DB) {
		e := newEnv(t, newDB(t))
		alice := e.user("alice@example.com")
		e.bootstrap(alice)
		tok := e.login("alice@example.com", "openid", admin.Scope)
		deny := policies.Denying(alice, "/api/v1/todos/:id", "DELETE")
		if r := e.call(tok, "POST", "/admin/v1/policies", mustJSON(t, map[string]any{"add": []policies.Rule{deny}})); r.status != 201 {
			t.Fatalf("add deny: %d %s", r.status, r.body)
		}
		for _, tc := range []struct {
			sub, obj, act string
			allowed       bool
			rule          *policies.Rule
		}{
			{"role:user", "/api/v1/todos", "GET", true, &policies.Rule{Type: "p", Subject: "role:user", Object: "/api/v1/todos", Action: "GET", Effect: "allow"}},
			{"role:user", "/api/v1/todosAdmin", "GET", false, nil},
			{alice, "/admin/v1/policies", "POST", true, &policies.Rule{Type: "p", Subject: "role:admin", Object: "/admin/v1/*", Action: "*", Effect: "allow"}},
			{alice, "/api/v1/todos/42", "DELETE", false, &deny},
			{"client:nobody", "/api/v1/todos", "GET", false, nil},
		} {
			var d policies.Decision
			r := e.call(tok, "POST", "/admin/v1/policies/check", mustJSON(t, map[string]string{"subject": tc.sub, "object": tc.obj, "action": tc.act}))
			r.json(t, &d)
			if r.status != 200 || d.Allowed != tc.allowed || (tc.rule == nil) != (d.Rule == nil) || (tc.rule != nil && *tc.rule != *d.Rule) || d.Revision != e.policy().Revision {
				t.Errorf("check %s %s %s: %d %s; want allowed=%v rule=%+v", tc.sub, tc.act, tc.obj, r.status, r.body, tc.allowed, tc.rule)
			}
		}
	})
}
