package idp_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBadInput_SE09 sends malformed, oversized and non-UTF-8 requests to every endpoint: each
// gets a 4xx in its protocol's format (OAuth JSON, bearer challenge or HTML page), never a 5xx,
// and no body leaks internals.
func TestBadInput_SE09(t *testing.T) {
	h := sqliteHarness(t)
	web, secret := h.confidential()
	big := strings.Repeat("a", 1<<20)
	bad := "\xff\xfe\xfd"
	type req struct {
		method, path, ctype, body string
		basic                     bool
	}
	var cases []req
	for _, p := range []string{"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/par", "/oauth2/authorize", "/login", "/consent", "/logout", "/oauth2/logout", "/userinfo",
		"/register", "/verify", "/reset", "/reset/confirm", "/password"} {
		cases = append(cases,
			req{"POST", p, "application/x-www-form-urlencoded", "%zz=%%%&&==", true},
			req{"POST", p, "application/x-www-form-urlencoded", "grant_type=" + big, true},
			req{"POST", p, "application/x-www-form-urlencoded", "grant_type=" + bad + "&client_id=" + bad + "&token=" + bad + "&code=" + bad, true},
			req{"POST", p, "application/json", `{"grant_type":`, true},
			req{"POST", p, "multipart/form-data; boundary=x", "--x\r\nbroken", true},
			req{"POST", p, "application/x-www-form-urlencoded", "client_id=' OR '1'='1&email=' OR 1=1--&login_hint=%3Cscript%3E", false},
		)
	}
	for _, q := range []string{
		"?client_id=%ff%fe&response_type=code", "?" + strings.Repeat("x=1&", 5000), "?client_id=" + web.ID + "&redirect_uri=%zz",
		"?client_id=" + web.ID + "&response_type=code&redirect_uri=" + callback + "&state=" + bad + "&scope=" + bad,
		"?client_id=" + web.ID + "&response_type=code&redirect_uri=" + callback + "&state=stateeeee&max_age=-1&prompt=bogus",
		"?client_id=" + web.ID + "&response_type=code&redirect_uri=" + callback + "&state=stateeeee&request=eyJhbGciOiJub25lIn0.e30.",
		"?client_id=" + web.ID + "&response_type=code&redirect_uri=" + callback + "&state=stateeeee&request_uri=http://169.254.169.254/",
	} {
		cases = append(cases, req{"GET", "/oauth2/authorize" + q, "", "", false})
	}
	cases = append(cases,
		req{"GET", "/userinfo?access_token=" + bad, "", "", false},
		req{"GET", "/login?return_to=" + bad + "&login_hint=" + big[:10000], "", "", false},
		req{"GET", "/oauth2/logout?id_token_hint=" + bad + "&post_logout_redirect_uri=https://evil.example", "", "", false},
		req{"GET", "/oauth2/token", "", "", false},
		req{"GET", "/verify?token=" + bad, "", "", false},
		req{"GET", "/verify?token=" + big[:10000], "", "", false},
		req{"GET", "/reset/confirm?token=%00%ff", "", "", false},
		req{"GET", "/password", "", "", false},
		req{"PUT", "/oauth2/token", "", "", false},
		req{"GET", "/nope/%ff", "", "", false},
	)
	for _, c := range cases {
		name := c.method + " " + c.path
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			r, err := http.NewRequest(c.method, h.issuer+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if c.ctype != "" {
				r.Header.Set("Content-Type", c.ctype)
			}
			if c.basic {
				r.SetBasicAuth(web.ID, secret)
			}
			r.Header.Set("Origin", h.issuer)
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(r)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				t.Fatalf("status %d: %s", resp.StatusCode, trim(body))
			}
			for _, leak := range []string{"goroutine", "panic", "sql:", "SQLSTATE", "pq:", "sqlite", "error_debug", ".go:"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("body leaks %q: %s", leak, trim(body))
				}
			}
			ct := resp.Header.Get("Content-Type")
			switch {
			case resp.StatusCode < 400:
			case c.path == "/oauth2/token" || c.path == "/oauth2/introspect" || c.path == "/oauth2/revoke" || c.path == "/oauth2/par":
				if c.method == "POST" && (!strings.Contains(ct, "json") || !strings.Contains(string(body), `"error"`)) {
					t.Errorf("OAuth endpoint answered %d %q %s, want an RFC 6749 JSON error", resp.StatusCode, ct, trim(body))
				}
			case strings.HasPrefix(c.path, "/userinfo"):
				if resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("userinfo answered %d without WWW-Authenticate", resp.StatusCode)
				}
			case c.method == "GET" || c.path == "/login" || c.path == "/consent" || c.path == "/logout" || isAccountPage(c.path) || strings.HasPrefix(c.path, "/oauth2/authorize") || strings.HasPrefix(c.path, "/oauth2/logout"):
				if !strings.Contains(ct, "text/html") && !strings.Contains(ct, "text/plain") {
					t.Errorf("page answered %d %q, want an HTML error page", resp.StatusCode, ct)
				}
			}
			if loc := resp.Header.Get("Location"); strings.Contains(loc, "169.254") || strings.Contains(loc, "evil.example") {
				t.Errorf("redirected to %q", loc)
			}
		})
	}
}

func isAccountPage(p string) bool {
	for _, a := range []string{"/register", "/verify", "/reset", "/reset/confirm", "/password"} {
		if p == a {
			return true
		}
	}
	return false
}

// TestAccountBadInput_SE09: the account forms, with a valid CSRF token and session, get
// malformed, oversized, repeated and non-UTF-8 fields: always a 4xx HTML page or a normal
// answer, never a 5xx.
func TestAccountBadInput_SE09(t *testing.T) {
	h := sqliteHarness(t)
	h.user("alice@example.com")
	b, _ := h.httpSession(t, "alice@example.com")
	bad, big := "\xff\xfe\xfd", strings.Repeat("é", 40000)
	values := []string{"", bad, big, "%00", "\x00\x01", "a@b", "<script>alert(1)</script>@example.com", "alice@example.com\r\nBcc: x@y"}
	for _, path := range []string{"/register", "/verify", "/reset", "/reset/confirm", "/password"} {
		for i, v := range values {
			form, _, _ := b.formFrom("/register") // any page sets the CSRF cookie
			for _, f := range []string{"email", "password", "token", "current_password", "new_password"} {
				form.Set(f, v)
				form.Add(f, "second value")
			}
			r, body := b.postPath(path, form)
			if r.StatusCode >= 500 || (r.StatusCode >= 400 && !strings.Contains(r.Header.Get("Content-Type"), "text/html")) {
				t.Fatalf("%s with value %d: %d %q %s", path, i, r.StatusCode, r.Header.Get("Content-Type"), trim([]byte(body)))
			}
		}
	}
}
