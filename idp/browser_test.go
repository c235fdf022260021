package idp_test

// Browser tests: a headless Chromium drives the provider's pages as a user does, and loads an
// attacker's pages from another origin, so that the browser's own rules (Fetch metadata, SameSite
// cookies, X-Frame-Options and frame-ancestors, the CSP) take part as they do in production.
// Without Chromium they skip, unless GATEHOUSE_TEST_REQUIRE names "browser" (STYLE rule 11).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/database/dbtest"
)

// browserTimeout bounds each test's browser: every action of the test runs within it.
const browserTimeout = 60 * time.Second

// newBrowser starts a headless Chromium with a fresh profile for one test and returns the context
// of its tab. The browser ends at cleanup and after browserTimeout. Without Chromium the test
// skips, or fails when GATEHOUSE_TEST_REQUIRE names "browser".
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := dbtest.Chromium(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], // headless, no-first-run, disable-background-networking, disable-sync, …
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // the tests may run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(profile),
	)
	timeout, cancelTimeout := context.WithTimeout(t.Context(), browserTimeout)
	alloc, cancelAlloc := chromedp.NewExecAllocator(timeout, opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		cancelTimeout()
		// Chromium's helper processes can write to the profile for a moment after the browser
		// exits; empty it before t.TempDir's own cleanup, which does not retry.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if err := os.RemoveAll(profile); err == nil || time.Now().After(deadline) {
				break
			}
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}

// navigate loads rawURL and returns the response of the document it ends on, after redirects.
func navigate(t *testing.T, ctx context.Context, rawURL string) *network.Response {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(rawURL))
	if err != nil {
		t.Fatalf("navigate to %s: %v", rawURL, err)
	}
	// A navigation the previous page started (an auto-submitting form) can replace the document
	// after the load: wait until this one has a body before anything reads it.
	if _, err := chromedp.Run(ctx, chromedp.WaitReady("body")); err != nil {
		t.Fatalf("wait for the page at %s: %v", rawURL, err)
	}
	return resp
}

// submit runs steps that end in a navigation (a click on a submit button) and returns the
// response of the document the browser lands on, after redirects.
func submit(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		t.Fatalf("submit: %v (page %s)", err, eval[string](t, ctx, `location.href`))
	}
	return resp
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// signIn types the credentials into the login form on the current page and submits it.
func signIn(t *testing.T, ctx context.Context, email, password string) *network.Response {
	t.Helper()
	if got := eval[string](t, ctx, `location.pathname`); got != "/login" {
		t.Fatalf("signIn: on %s, want the login page", eval[string](t, ctx, `location.href`))
	}
	eval[chromedp.Void](t, ctx, `document.querySelector("#email").value = ""`) // login_hint may have filled it
	return submit(t, ctx,
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("login-submit")),
	)
}

// click clicks the button with this id, which the page must have, and returns the response of
// the document the browser lands on.
func click(t *testing.T, ctx context.Context, id string) *network.Response {
	t.Helper()
	if !eval[bool](t, ctx, `document.getElementById("`+id+`") !== null`) {
		t.Fatalf("no #%s on %s: %q", id, eval[string](t, ctx, `location.href`), eval[string](t, ctx, `document.body.innerText`))
	}
	return submit(t, ctx, chromedp.Click(chromedp.ID(id)))
}

// browserCookie returns the browser's cookie name for rawURL, or nil.
func browserCookie(t *testing.T, ctx context.Context, rawURL, name string) *network.Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{rawURL}})
	if err != nil {
		t.Fatalf("get cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setBrowserCookie stores a cookie for rawURL in the browser, with Path=/.
func setBrowserCookie(t *testing.T, ctx context.Context, rawURL, name, value string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: rawURL, Path: "/"}); err != nil {
		t.Fatalf("set cookie %s: %v", name, err)
	}
}

// hop is one HTTP request the browser sent: a redirect gives a second hop with the same ID.
type hop struct {
	id          network.RequestID
	method, url string
	document    bool
	status      int64  // 0 until the response arrives
	failed      string // the error text when the request failed
}

// netLog records every request of the tab, in order, from the browser's network events.
type netLog struct {
	mu   sync.Mutex
	hops []hop
}

// recordNetwork starts a netLog for the tab of ctx.
func recordNetwork(t *testing.T, ctx context.Context) *netLog {
	t.Helper()
	l := &netLog{}
	err := chromedp.Listen(ctx, func(ev any) {
		l.mu.Lock()
		defer l.mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.RedirectResponse != nil {
				l.setStatus(ev.RequestID, ev.RedirectResponse.Status)
			}
			l.hops = append(l.hops, hop{id: ev.RequestID, method: ev.Request.Method, url: ev.Request.URL, document: ev.Type == network.ResourceTypeDocument})
		case *network.EventResponseReceived:
			l.setStatus(ev.RequestID, ev.Response.Status)
		case *network.EventLoadingFailed:
			if i := l.last(ev.RequestID); i >= 0 {
				l.hops[i].failed = ev.ErrorText
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the network: %v", err)
	}
	return l
}

func (l *netLog) last(id network.RequestID) int {
	for i := len(l.hops) - 1; i >= 0; i-- {
		if l.hops[i].id == id {
			return i
		}
	}
	return -1
}

func (l *netLog) setStatus(id network.RequestID, status int64) {
	if i := l.last(id); i >= 0 && l.hops[i].status == 0 {
		l.hops[i].status = status
	}
}

// all returns a copy of the hops recorded so far.
func (l *netLog) all() []hop {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hops)
}

// wait returns the first document request with this method and URL, once it has an answer (a
// status or a failure), and the hop that followed it in its redirect chain, if any.
func (l *netLog) wait(t *testing.T, ctx context.Context, method, rawURL string) (h, next hop) {
	t.Helper()
	for {
		hops := l.all()
		for i, h := range hops {
			if !h.document || h.method != method || h.url != rawURL || (h.status == 0 && h.failed == "") {
				continue
			}
			for _, n := range hops[i+1:] {
				if n.id == h.id {
					return h, n
				}
			}
			return h, hop{}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no answered %s %s in the browser's requests %v: %v", method, rawURL, hops, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// site is another web origin in a test: the relying party that receives the redirect, or the
// attacker's site. It serves the pages put on it, and a small page at any other path, and
// records every request.
type site struct {
	srv   *httptest.Server
	mu    sync.Mutex
	pages map[string]sitePage
	reqs  []siteRequest
}

type sitePage struct {
	html    string
	cookies []*http.Cookie
}

type siteRequest struct {
	method, path string
	query        url.Values
}

func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{pages: map[string]sitePage{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, siteRequest{r.Method, r.URL.Path, r.URL.Query()})
		p, ok := s.pages[r.URL.Path]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if !ok {
			fmt.Fprintf(w, "<!doctype html><title>site</title><p id=\"site-page\">%s</p>", template.HTMLEscapeString(r.URL.Path))
			return
		}
		for _, c := range p.cookies {
			http.SetCookie(w, c)
		}
		io.WriteString(w, p.html)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// sameSite is the site's URL on 127.0.0.1, the provider's host: another origin (the port
// differs) but the same site, so SameSite cookies of the provider go along.
func (s *site) sameSite() string { return s.srv.URL }

// crossSite is the site's URL on localhost: another site, as evil.example would be.
func (s *site) crossSite() string { return strings.Replace(s.srv.URL, "127.0.0.1", "localhost", 1) }

func (s *site) callbackURL() string { return s.srv.URL + "/callback" }

func (s *site) put(path, html string, cookies ...*http.Cookie) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[path] = sitePage{html, cookies}
}

// requests returns the requests the site received for path.
func (s *site) requests(path string) []siteRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []siteRequest
	for _, r := range s.reqs {
		if r.path == path {
			out = append(out, r)
		}
	}
	return out
}

// callback returns the one request the client received at its redirect URI.
func (s *site) callback(t *testing.T) siteRequest {
	t.Helper()
	got := s.requests("/callback")
	if len(got) != 1 {
		t.Fatalf("the client's redirect URI received %d requests %v, want 1", len(got), got)
	}
	return got[0]
}

func withRedirectURI(u string) clientOpt {
	return func(c *idp.Client) { c.RedirectURIs = []string{u} }
}

// autoPost is an attacker's page that POSTs a form to action as soon as it has loaded, as a
// cross-site request forgery does.
var autoPost = template.Must(template.New("post").Parse(`<!doctype html>
<title>You won a prize</title>
<form id="f" method="post" action="{{.Action}}">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}</form>
<script>window.addEventListener("load", () => setTimeout(() => document.getElementById("f").submit(), 0));</script>
`))

func autoPostPage(t *testing.T, action string, fields map[string]string) string {
	t.Helper()
	var b bytes.Buffer
	if err := autoPost.Execute(&b, map[string]any{"Action": action, "Fields": fields}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// httpSession signs email in with a plain HTTP client and returns the client and its session
// cookie's value (for an attacker, its own valid session).
func (h *harness) httpSession(t *testing.T, email string) (*browser, string) {
	t.Helper()
	b := h.browser()
	resp, err := b.client.Get(h.issuer + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp, err = b.post("/login", url.Values{"csrf_token": {submatch(csrfRe, string(body))}, "email": {email}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(h.issuer)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "gatehouse_session" {
			return b, c.Value
		}
	}
	t.Fatalf("HTTP sign-in of %s: no session cookie (status %d)", email, resp.StatusCode)
	return nil, ""
}

func sessionHash(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// toConsent starts an authorization in the browser, signs in on the login page it leads to, and
// checks that the consent page names the client, each scope and the redirect host (CO-01).
func toConsent(t *testing.T, ctx context.Context, authURL, email string, c *idp.Client, scopes []string) {
	t.Helper()
	navigate(t, ctx, authURL)
	if resp := signIn(t, ctx, email, testPassword); resp.Status != http.StatusOK || !strings.HasSuffix(eval[string](t, ctx, `location.pathname`), "/oauth2/authorize") {
		t.Fatalf("after sign-in: %d at %s, want 200 on the consent page", resp.Status, resp.URL)
	}
	if got := eval[string](t, ctx, `document.querySelector("#client-name")?.textContent ?? "(none)"`); got != c.Name {
		t.Errorf("#client-name = %q, want %q", got, c.Name)
	}
	shown := eval[[]string](t, ctx, `[...document.querySelectorAll("#scopes code")].map(e => e.textContent)`)
	if !slices.Equal(shown, scopes) {
		t.Errorf("#scopes lists %q, want %q", shown, scopes)
	}
	u, _ := url.Parse(c.RedirectURIs[0])
	if got := eval[string](t, ctx, `document.querySelector("#redirect-host")?.textContent ?? "(none)"`); got != u.Host {
		t.Errorf("#redirect-host = %q, want %q", got, u.Host)
	}
}

// TestBrowserLoginConsentCallback_CO01_AUTHZ11 runs a third-party client's authorization in the
// browser: login page, consent page (client name, scopes, redirect host), allow; the client
// receives the code and its exact state and redeems the code with PKCE. Both form POSTs are
// answered with 303, so the browser follows with a GET and never re-POSTs the password.
func TestBrowserLoginConsentCallback_CO01_AUTHZ11(t *testing.T) {
	h := sqliteHarness(t)
	app := newSite(t)
	web, secret := h.confidential(withRedirectURI(app.callbackURL()))
	alice := h.user("alice@example.com")
	scopes := []string{"openid", "profile", "email"}
	cfg := h.oauthConfig(web, secret, scopes...)
	verifier, state := oauth2.GenerateVerifier(), "state-"+uuid.NewString()
	ctx := newBrowser(t)
	netlog := recordNetwork(t, ctx)

	toConsent(t, ctx, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", "n-"+uuid.NewString())), alice.Email, web, scopes)
	click(t, ctx, "consent-allow")

	cb := app.callback(t)
	if cb.method != http.MethodGet || cb.query.Get("code") == "" || cb.query.Get("state") != state || cb.query.Get("iss") != h.issuer || cb.query.Has("error") {
		t.Fatalf("callback = %s %v, want GET with a code, state %q and iss %q", cb.method, cb.query, state, h.issuer)
	}
	tok, err := cfg.Exchange(t.Context(), cb.query.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code: %v", err)
	}
	if idt, _ := tok.Extra("id_token").(string); idt == "" || tok.AccessToken == "" {
		t.Errorf("token response: access token %t, ID token %t, want both", tok.AccessToken != "", idt != "")
	}
	if status, info := h.userinfo(tok.AccessToken); status != http.StatusOK || info["sub"] != alice.ID {
		t.Errorf("userinfo = %d %v, want 200 with sub %s", status, info, alice.ID)
	}
	if _, err := h.store.GetConsent(t.Context(), alice.ID, web.ID); err != nil {
		t.Errorf("GetConsent after allow: %v, want the stored consent", err)
	}

	// AUTHZ-11: 303 after each form, then a GET.
	for _, path := range []string{"/login", "/consent"} {
		post, next := netlog.wait(t, ctx, http.MethodPost, h.issuer+path)
		if post.status != http.StatusSeeOther || next.method != http.MethodGet {
			t.Errorf("POST %s answered %d and followed by %q, want 303 then GET", path, post.status, next.method)
		}
	}
}

// TestBrowserConsentDeny_CO04: the user denies; the client gets error=access_denied with its
// state and the issuer, and no code, and no consent is stored.
func TestBrowserConsentDeny_CO04(t *testing.T) {
	h := sqliteHarness(t)
	app := newSite(t)
	web, secret := h.confidential(withRedirectURI(app.callbackURL()))
	bob := h.user("bob@example.com")
	cfg := h.oauthConfig(web, secret, "openid", "profile")
	state := "state-" + uuid.NewString()
	ctx := newBrowser(t)

	toConsent(t, ctx, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), bob.Email, web, []string{"openid", "profile"})
	click(t, ctx, "consent-deny")

	cb := app.callback(t)
	if q := cb.query; q.Get("error") != "access_denied" || q.Get("state") != state || q.Get("iss") != h.issuer || q.Has("code") {
		t.Errorf("callback = %v, want error=access_denied, state %q, iss %q and no code", q, state, h.issuer)
	}
	if _, err := h.store.GetConsent(t.Context(), bob.ID, web.ID); !errors.Is(err, idp.ErrNotFound) {
		t.Errorf("GetConsent after deny = %v, want ErrNotFound", err)
	}
}

// TestCrossSitePost_SE05 loads an attacker's page that auto-submits the login form with the
// attacker's credentials (login CSRF), and one that auto-submits the consent form with "allow"
// while the victim is signed in. The attacker's page is once on another site, and once on the
// provider's own site under another port: there the SameSite cookies go along, the attacker can
// plant its own CSRF cookie (cookies ignore ports), and the consent fields it posts are the
// victim's own valid ones, so only the cross-origin check stands in the way. Every forged POST
// must be refused with 403: the victim is not signed in as the attacker, and no consent is
// stored.
func TestCrossSitePost_SE05(t *testing.T) {
	for _, origin := range []struct {
		name string
		url  func(*site) string
	}{
		{"cross-site", (*site).crossSite},
		{"same site, other origin", (*site).sameSite},
	} {
		t.Run(origin.name+", login", func(t *testing.T) {
			h := sqliteHarness(t)
			evil := newSite(t)
			mallory := h.user("mallory@example.com")
			ctx := newBrowser(t)
			netlog := recordNetwork(t, ctx)

			// The attacker's own valid pair of CSRF cookie and token.
			resp, err := h.browser().client.Get(h.issuer + "/login")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			token := submatch(csrfRe, string(body))
			evil.put("/login-csrf", autoPostPage(t, h.issuer+"/login", map[string]string{
				"csrf_token": token, "email": mallory.Email, "password": testPassword, "return_to": "/",
			}), &http.Cookie{Name: "gatehouse_csrf", Value: token, Path: "/"})

			navigate(t, ctx, origin.url(evil)+"/login-csrf")
			if post, _ := netlog.wait(t, ctx, http.MethodPost, h.issuer+"/login"); post.status != http.StatusForbidden {
				t.Errorf("forged login POST answered %d %s, want 403", post.status, post.failed)
			}
			if c := browserCookie(t, ctx, h.issuer, "gatehouse_session"); c != nil {
				t.Errorf("after the forged login the browser has a session cookie %q, want none", c.Value)
			}
			navigate(t, ctx, h.issuer+"/")
			if path, text := eval[string](t, ctx, `location.pathname`), eval[string](t, ctx, `document.body.innerText`); path != "/login" || strings.Contains(text, mallory.Email) {
				t.Errorf("after the forged login, %s/ shows %s: %q, want the login page", h.issuer, path, text)
			}
		})

		t.Run(origin.name+", consent", func(t *testing.T) {
			h := sqliteHarness(t)
			app, evil := newSite(t), newSite(t)
			web, _ := h.confidential(withRedirectURI(app.callbackURL()))
			alice := h.user("alice@example.com")
			ctx := newBrowser(t)
			netlog := recordNetwork(t, ctx)

			// The victim signs in and opens the consent page; the attacker posts its fields.
			cfg := h.oauthConfig(web, "", "openid", "email")
			toConsent(t, ctx, cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), alice.Email, web, []string{"openid", "email"})
			fields := eval[map[string]string](t, ctx, `Object.fromEntries(new FormData(document.querySelector("form")))`)
			if fields["challenge"] == "" || fields["csrf_token"] == "" || fields["return_to"] == "" {
				t.Fatalf("consent form fields = %v, want challenge, csrf_token and return_to", fields)
			}
			fields["decision"] = "allow"
			evil.put("/consent-csrf", autoPostPage(t, h.issuer+"/consent", fields))

			navigate(t, ctx, origin.url(evil)+"/consent-csrf")
			if post, _ := netlog.wait(t, ctx, http.MethodPost, h.issuer+"/consent"); post.status != http.StatusForbidden {
				t.Errorf("forged consent POST answered %d %s, want 403", post.status, post.failed)
			}
			if c, err := h.store.GetConsent(t.Context(), alice.ID, web.ID); !errors.Is(err, idp.ErrNotFound) {
				t.Errorf("GetConsent after the forged consent = %+v, %v, want ErrNotFound", c, err)
			}
			if got := app.requests("/callback"); len(got) != 0 {
				t.Errorf("the client received %v after the forged consent, want nothing", got)
			}
			navigate(t, ctx, h.issuer+"/")
			if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "signed in as "+alice.Email) {
				t.Errorf("after the forged consent, %s/ shows %q, want alice still signed in", h.issuer, text)
			}
		})
	}
}

// TestSessionRotatesAtLogin_SE02 plants a session cookie, an unknown value or the attacker's own
// valid session, and signs in: the browser gets a new session ID, the planted one is not a
// session on the server, and the cookie is HttpOnly and SameSite=Lax. Re-authentication with
// prompt=login rotates the ID again, and the replaced ID no longer signs anyone in.
func TestSessionRotatesAtLogin_SE02(t *testing.T) {
	for _, tt := range []struct {
		name    string
		planted func(t *testing.T, h *harness) string
	}{
		{"value chosen by the attacker", func(*testing.T, *harness) string { return "planted-" + uuid.NewString() }},
		{"attacker's own session", func(t *testing.T, h *harness) string {
			h.user("mallory@example.com")
			_, v := h.httpSession(t, "mallory@example.com")
			return v
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := sqliteHarness(t)
			app := newSite(t)
			alice := h.user("alice@example.com")
			spa := h.public(withRedirectURI(app.callbackURL()))
			planted := tt.planted(t, h)
			ctx := newBrowser(t)

			navigate(t, ctx, h.issuer+"/login")
			setBrowserCookie(t, ctx, h.issuer, "gatehouse_session", planted)
			signIn(t, ctx, alice.Email, testPassword)
			if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "signed in as "+alice.Email) {
				t.Fatalf("after sign-in the page shows %q, want alice signed in", text)
			}
			first := browserCookie(t, ctx, h.issuer, "gatehouse_session")
			if first == nil {
				t.Fatal("no session cookie after sign-in")
			}
			if first.Value == planted {
				t.Errorf("session cookie kept the planted value %q", planted)
			}
			if !first.HTTPOnly || first.SameSite != network.CookieSameSiteLax || first.Path != "/" {
				t.Errorf("session cookie HttpOnly=%t SameSite=%q Path=%q, want true, Lax, /", first.HTTPOnly, first.SameSite, first.Path)
			}
			if s, err := h.store.GetLoginSession(t.Context(), sessionHash(planted)); !errors.Is(err, idp.ErrNotFound) {
				t.Errorf("planted ID after sign-in: GetLoginSession = %+v, %v, want ErrNotFound", s, err)
			}
			if s, err := h.store.GetLoginSession(t.Context(), sessionHash(first.Value)); err != nil || s.UserID != alice.ID {
				t.Fatalf("new ID: GetLoginSession = %+v, %v, want alice's session", s, err)
			}

			// Re-authentication (prompt=login) rotates again.
			cfg := h.oauthConfig(spa, "", "openid")
			navigate(t, ctx, cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "login")))
			signIn(t, ctx, alice.Email, testPassword)
			if cb := app.callback(t); cb.query.Get("code") == "" {
				t.Fatalf("re-authentication: callback %v, want a code", cb.query)
			}
			second := browserCookie(t, ctx, h.issuer, "gatehouse_session")
			if second == nil || second.Value == first.Value {
				t.Fatalf("session cookie after prompt=login = %v, want a new value", second)
			}
			if s, err := h.store.GetLoginSession(t.Context(), sessionHash(first.Value)); !errors.Is(err, idp.ErrNotFound) {
				t.Errorf("replaced ID: GetLoginSession = %+v, %v, want ErrNotFound", s, err)
			}
			// Replaying the replaced ID signs nobody in.
			setBrowserCookie(t, ctx, h.issuer, "gatehouse_session", first.Value)
			navigate(t, ctx, h.issuer+"/")
			if path := eval[string](t, ctx, `location.pathname`); path != "/login" {
				t.Errorf("with the replaced session ID, %s/ ends on %s, want /login", h.issuer, path)
			}
		})
	}
}

// TestNoOpenRedirect_SE07 signs in from login pages whose return_to (or next, redirect) points
// off-site: the browser always ends on the provider. RP-initiated logout with an unregistered
// or unproven post_logout_redirect_uri, and /logout with redirect parameters, stay on the
// provider too.
func TestNoOpenRedirect_SE07(t *testing.T) {
	h := sqliteHarness(t)
	web, _ := h.confidential()
	alice := h.user("alice@example.com")
	ctx := newBrowser(t)
	netlog := recordNetwork(t, ctx)
	onIssuer := func(t *testing.T, wantPath string) {
		t.Helper()
		if origin, path := eval[string](t, ctx, `location.origin`), eval[string](t, ctx, `location.pathname`); origin != h.issuer || path != wantPath {
			t.Errorf("browser on %s%s, want %s%s", origin, path, h.issuer, wantPath)
		}
	}

	for _, tt := range []struct {
		name, query string // query is the login page's raw query
	}{
		{"https URL", "return_to=" + url.QueryEscape("https://evil.example")},
		{"scheme-relative", "return_to=" + url.QueryEscape("//evil.example")},
		{"backslash", "return_to=" + url.QueryEscape(`/\evil.example`)},
		{"scheme without slashes", "return_to=" + url.QueryEscape("https:evil.example")},
		{"javascript", "return_to=" + url.QueryEscape("javascript:alert(1)")},
		{"percent-encoded slashes", "return_to=%2F%2Fevil.example"},
		{"double-encoded slashes", "return_to=" + url.QueryEscape("%2F%2Fevil.example")},
		{"next", "next=" + url.QueryEscape("https://evil.example")},
		{"redirect", "redirect=" + url.QueryEscape("//evil.example")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			navigate(t, ctx, h.issuer+"/login?"+tt.query)
			if got := eval[string](t, ctx, `document.querySelector("input[name=return_to]").value`); got != "/" {
				t.Errorf("login form return_to = %q, want /", got)
			}
			signIn(t, ctx, alice.Email, testPassword)
			onIssuer(t, "/")
		})
	}

	for _, tt := range []struct {
		name, path string
		confirm    bool // the provider asks to confirm; the test confirms
		wantPath   string
	}{
		{"end_session, unregistered post_logout_redirect_uri", "/oauth2/logout?post_logout_redirect_uri=" + url.QueryEscape("https://evil.example"), false, "/oauth2/logout"},
		{"end_session, registered URI but no id_token_hint", "/oauth2/logout?client_id=" + web.ID + "&post_logout_redirect_uri=" + url.QueryEscape(web.PostLogoutRedirectURIs[0]), false, "/oauth2/logout"},
		{"logout page with redirect parameters", "/logout?return_to=" + url.QueryEscape("https://evil.example") + "&next=" + url.QueryEscape("//evil.example") + "&post_logout_redirect_uri=" + url.QueryEscape("https://evil.example"), true, "/logout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := navigate(t, ctx, h.issuer+tt.path)
			onIssuer(t, strings.SplitN(tt.path, "?", 2)[0])
			if !tt.confirm {
				if code := eval[string](t, ctx, `document.querySelector("#error-code")?.textContent ?? ""`); resp.Status != http.StatusBadRequest || code != "invalid_request" {
					t.Errorf("%s = %d with error code %q, want 400 invalid_request", tt.path, resp.Status, code)
				}
				return
			}
			click(t, ctx, "logout-confirm")
			onIssuer(t, tt.wantPath)
			if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "You are signed out.") {
				t.Errorf("after confirming, the page shows %q, want the signed-out message", text)
			}
		})
	}

	for _, r := range netlog.all() {
		if u, err := url.Parse(r.url); err != nil || u.Host != strings.TrimPrefix(h.issuer, "http://") {
			t.Errorf("the browser requested %s %s, want only the provider", r.method, r.url)
		}
	}
}

// xssProbe is JavaScript that reports what a hostile value could have done to the page: run
// script, or add elements or event-handler attributes.
const xssProbe = `({
	xss: typeof window.__xss,
	elements: document.querySelectorAll("script, svg, img, iframe, object, embed").length,
	handlers: [...document.querySelectorAll("*")].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith("on")),
})`

type xssReport struct {
	XSS      string   `json:"xss"`
	Elements int      `json:"elements"`
	Handlers []string `json:"handlers"`
}

func checkNoXSS(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if got := eval[xssReport](t, ctx, xssProbe); got.XSS != "undefined" || got.Elements != 0 || len(got.Handlers) != 0 {
		t.Errorf("%s: typeof __xss=%q, %d script/svg/img elements, handler attributes %v; want undefined, 0, none", where, got.XSS, got.Elements, got.Handlers)
	}
}

// TestHostileInputEscaped_SE08 sends markup in state, login_hint and ui_locales, registers a
// client whose name, scope and audience carry markup, and reaches error pages with markup in
// the request. On every page no script ran, no element or handler was injected, and the markup
// shows as text; the state comes back to the client byte for byte.
func TestHostileInputEscaped_SE08(t *testing.T) {
	const hostile = `"><script>window.__xss=1</script><svg onload=window.__xss=2>`
	const hostileScope = `<svg/onload=window.__xss=4>`
	h := sqliteHarness(t)
	app := newSite(t)
	const name = `Hostile <img src=x onerror=window.__xss=3> App`
	const audience = `https://api.example/"><svg onload=window.__xss=5>`
	web, secret := h.confidential(withRedirectURI(app.callbackURL()), func(c *idp.Client) {
		c.Name = name
		c.Scopes = append(c.Scopes, hostileScope)
		c.Audiences = []string{audience}
	})
	alice := h.user("alice@example.com")
	ctx := newBrowser(t)
	cfg := h.oauthConfig(web, secret, "openid", hostileScope)
	authURL := cfg.AuthCodeURL(hostile, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
		oauth2.SetAuthURLParam("login_hint", hostile), oauth2.SetAuthURLParam("ui_locales", hostile))

	// Login page: login_hint is the email field's value, state rides in return_to.
	navigate(t, ctx, authURL)
	checkNoXSS(t, ctx, "login page")
	if got := eval[string](t, ctx, `document.querySelector("#email").value`); got != hostile {
		t.Errorf("login page #email value = %q, want the login_hint %q", got, hostile)
	}
	if got := eval[string](t, ctx, `new URL(document.querySelector("input[name=return_to]").value, location.href).searchParams.get("state")`); got != hostile {
		t.Errorf("login page return_to state = %q, want %q", got, hostile)
	}

	// Consent page: the client's name, scope and audience are text.
	signIn(t, ctx, alice.Email, testPassword)
	checkNoXSS(t, ctx, "consent page")
	if got := eval[string](t, ctx, `document.querySelector("#client-name")?.textContent ?? "(none)"`); got != name {
		t.Errorf("#client-name text = %q, want %q", got, name)
	}
	if got := eval[string](t, ctx, `document.querySelector("#scopes").textContent`); !strings.Contains(got, hostileScope) {
		t.Errorf("#scopes text = %q, want it to contain %q", got, hostileScope)
	}
	if got := eval[string](t, ctx, `document.querySelector("main").textContent`); !strings.Contains(got, audience) {
		t.Errorf("consent page text = %q, want it to show the audience %q", got, audience)
	}
	click(t, ctx, "consent-deny")
	if q := app.callback(t).query; q.Get("state") != hostile || q.Get("error") != "access_denied" {
		t.Errorf("callback = %v, want error=access_denied and the state byte for byte", q)
	}

	// Error pages.
	authorize := func(q url.Values) string { return h.issuer + "/oauth2/authorize?" + q.Encode() }
	base := func() url.Values {
		return url.Values{"client_id": {web.ID}, "response_type": {"code"}, "redirect_uri": {app.callbackURL()}, "scope": {"openid"}, "state": {hostile},
			"code_challenge": {s256("v")}, "code_challenge_method": {"S256"}}
	}
	with := func(kv ...string) url.Values {
		q := base()
		for i := 0; i < len(kv); i += 2 {
			q.Set(kv[i], kv[i+1])
		}
		return q
	}
	for _, tt := range []struct {
		name     string
		url      string
		status   int64
		code     string
		echoed   string // markup the page shows as text
		location string // where the browser must end, when not on the error page
	}{
		// fosite turns the description's double quotes into single ones.
		{"response_mode reflected in the hint", authorize(with("response_mode", hostile)), http.StatusBadRequest, "unsupported_response_mode", strings.TrimPrefix(hostile, `"`), ""},
		{"bad scope, unregistered redirect_uri", authorize(with("scope", hostile, "redirect_uri", "https://evil.example/cb")), http.StatusBadRequest, "invalid_request", "", ""},
		{"unknown client", authorize(with("client_id", hostile)), http.StatusUnauthorized, "invalid_client", "", ""},
		{"duplicate parameter", authorize(with()) + "&state=" + url.QueryEscape(hostile), http.StatusBadRequest, "invalid_request", "", ""},
		{"not found", h.issuer + "/" + url.PathEscape(hostile), http.StatusNotFound, "", "", ""},
		// A bad scope with a valid redirect URI is the client's to show (RFC 6749 §4.1.2.1).
		{"bad scope, registered redirect_uri", authorize(with("scope", "openid "+hostile)), 0, "", "", app.callbackURL()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := navigate(t, ctx, tt.url)
			checkNoXSS(t, ctx, tt.name)
			if tt.location != "" {
				u, _ := url.Parse(resp.URL)
				if !strings.HasPrefix(resp.URL, tt.location) || u.Query().Get("error") != "invalid_scope" {
					t.Errorf("ended on %s, want %s with error=invalid_scope", resp.URL, tt.location)
				}
				return
			}
			code := eval[string](t, ctx, `document.querySelector("#error-code")?.textContent ?? ""`)
			msg := eval[string](t, ctx, `document.querySelector("#error-message")?.textContent ?? "(none)"`)
			if resp.Status != tt.status || code != tt.code || !strings.HasPrefix(resp.URL, h.issuer) {
				t.Errorf("%s: %d %q, want %d %q on the provider's error page", resp.URL, resp.Status, code, tt.status, tt.code)
			}
			if !strings.Contains(msg, tt.echoed) {
				t.Errorf("#error-message = %q, want it to show %q as text", msg, tt.echoed)
			}
		})
	}
}

// frameView is what the browser did with one iframe: the URL of the document it committed, and
// whether that document is a page of the provider or of a test site.
type frameView struct {
	committed string
	rendered  bool
}

// frameProbe reads, inside a frame, its URL and whether it shows a provider or test-site page.
const frameProbe = `[location.href, document.querySelector('link[href="/static/gatehouse.css"], #site-page') !== null]`

// frames returns, by the URL each iframe of the current page asked for, what it committed. Frames
// of the page's own site live in its process and frame tree; frames of other sites are targets
// of their own (site isolation).
func frames(t *testing.T, ctx context.Context) map[string]frameView {
	t.Helper()
	read := func(v []any) frameView {
		href, _ := v[0].(string)
		rendered, _ := v[1].(bool)
		return frameView{href, rendered}
	}
	out := map[string]frameView{}
	tree, err := chromedp.Call(ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		t.Fatalf("frame tree: %v", err)
	}
	for _, c := range tree.FrameTree.ChildFrames {
		asked := c.Frame.URL
		if c.Frame.UnreachableURL != "" {
			asked = c.Frame.UnreachableURL
		}
		view := frameView{committed: c.Frame.URL}
		if world, err := chromedp.Call(ctx, page.CreateIsolatedWorld, page.CreateIsolatedWorldParams{FrameID: c.Frame.ID}); err == nil {
			v, err := chromedp.Run(ctx, chromedp.Evaluate[[]any](frameProbe, func(p *runtime.EvaluateParams) { p.ContextID = world.ExecutionContextID }))
			if err != nil || len(v) != 2 {
				t.Fatalf("evaluate in the frame of %s: %v %v", asked, v, err)
			}
			view = read(v)
		}
		out[asked] = view
	}
	targets, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatalf("targets: %v", err)
	}
	for _, info := range targets {
		if info.Type != "iframe" {
			continue
		}
		fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
		v, err := chromedp.Run(fctx, chromedp.Evaluate[[]any](frameProbe))
		cancel()
		if err != nil || len(v) != 2 {
			t.Fatalf("evaluate in the frame of %s: %v %v", info.URL, v, err)
		}
		out[info.URL] = read(v)
	}
	return out
}

// TestFramingRefused_HD01 checks the anti-framing headers of the login, consent, logout and error
// pages, and loads them in iframes of an attacker's page on another site and on the provider's
// own site under another port (where the victim's cookies go along, so the real consent page
// is served): the browser renders none of them, while a page without the headers does render.
func TestFramingRefused_HD01(t *testing.T) {
	h := sqliteHarness(t)
	app, evil := newSite(t), newSite(t)
	web, _ := h.confidential(withRedirectURI(app.callbackURL()))
	alice := h.user("alice@example.com")
	cfg := h.oauthConfig(web, "", "openid")
	consentURL := cfg.AuthCodeURL("state-"+uuid.NewString(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	pages := []struct{ name, url, id string }{ // id: an element only that page has
		{"login", h.issuer + "/login", "login-submit"},
		{"consent", consentURL, "consent-allow"},
		{"logout", h.issuer + "/logout", "logout-confirm"},
		{"end-session confirmation", h.issuer + "/oauth2/logout", "logout-confirm"},
		{"error", h.issuer + "/oauth2/authorize?client_id=nope", "error-message"},
	}

	// Without alice's session the consent URL sends to the login page: that is where its frame
	// ends when the attacker's page is on another site, since the SameSite=Lax cookie stays home.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := anon.Get(consentURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	consentLogin := h.issuer + resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(consentLogin, h.issuer+"/login?return_to=") {
		t.Fatalf("consent URL without a session = %d to %q, want 303 to the login page", resp.StatusCode, consentLogin)
	}

	// Headers, as alice with a plain HTTP client: each URL serves the page it names.
	signedIn, _ := h.httpSession(t, alice.Email)
	for _, p := range pages {
		resp, err := signedIn.client.Get(p.url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `id="`+p.id+`"`) {
			t.Errorf("%s: GET %s = %d without #%s, want the page", p.name, p.url, resp.StatusCode, p.id)
		}
		if xfo, csp := resp.Header.Get("X-Frame-Options"), resp.Header.Values("Content-Security-Policy"); xfo != "DENY" || len(csp) != 1 || !strings.Contains(csp[0], "frame-ancestors 'none'") {
			t.Errorf("%s: X-Frame-Options %q, Content-Security-Policy %q; want DENY and one policy with frame-ancestors 'none'", p.name, xfo, csp)
		}
	}

	// In the browser, signed in as alice.
	var b strings.Builder
	b.WriteString("<!doctype html><title>Click to win</title>\n")
	control := app.sameSite() + "/frameable" // a page without anti-framing headers
	fmt.Fprintf(&b, "<iframe src=\"%s\"></iframe>\n", template.HTMLEscapeString(control))
	for _, p := range pages {
		fmt.Fprintf(&b, "<iframe src=\"%s\"></iframe>\n", template.HTMLEscapeString(p.url))
	}
	evil.put("/frames", b.String())
	for _, origin := range []struct {
		name       string
		url        func(*site) string
		consentURL string // where the consent frame ends up
	}{
		{"cross-site", (*site).crossSite, consentLogin},
		{"same site, other origin", (*site).sameSite, consentURL},
	} {
		t.Run(origin.name, func(t *testing.T) {
			ctx := newBrowser(t)
			navigate(t, ctx, h.issuer+"/login")
			signIn(t, ctx, alice.Email, testPassword)
			evilURL := origin.url(evil) + "/frames"
			navigate(t, ctx, evilURL)
			got := frames(t, ctx)
			// A frame without the headers renders, so the checks below can tell.
			if v, ok := got[control]; !ok || v.committed != control || !v.rendered {
				t.Errorf("control frame %s: %+v (found %t), want it rendered", control, v, ok)
			}
			for _, p := range pages {
				if p.name == "consent" {
					p.url = origin.consentURL
				}
				v, ok := got[p.url]
				if !ok {
					t.Errorf("%s: no iframe for %s among %v", p.name, p.url, got)
					continue
				}
				if !strings.HasPrefix(v.committed, "chrome-error:") || v.rendered {
					t.Errorf("%s framed by %s: committed %q, rendered %t; want a chrome-error page", p.name, evilURL, v.committed, v.rendered)
				}
			}
		})
	}
}
