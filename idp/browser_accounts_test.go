package idp_test

// Browser tests of the account pages: a person registers, opens the link from the mail (read
// from the outbox), resets a forgotten password and changes it, in a headless Chromium, so the
// pages' CSP, CSRF cookies and Fetch metadata take part as they do in production.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// pageText is the visible text of the current page.
func pageText(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `document.body.innerText`)
}

// expectPage checks the status and a piece of text of the page the browser is on.
func expectPage(t *testing.T, ctx context.Context, what string, status int64, gotStatus int64, text string) {
	t.Helper()
	if got := pageText(t, ctx); gotStatus != status || !strings.Contains(got, text) {
		t.Fatalf("%s: %d %q, want %d with %q", what, gotStatus, got, status, text)
	}
}

// tamper changes the link's token (one character flipped).
func tamper(link string) string {
	u, _ := url.Parse(link)
	tok := []byte(u.Query().Get("token"))
	if tok[0] == 'A' {
		tok[0] = 'B'
	} else {
		tok[0] = 'A'
	}
	u.RawQuery = url.Values{"token": {string(tok)}}.Encode()
	return u.String()
}

// TestBrowserRegisterVerify_AN03: register in the browser, open the link from the outbox and
// confirm; the used link and a tampered one show the invalid-link page; then sign in.
func TestBrowserRegisterVerify_AN03(t *testing.T) {
	h := sqliteHarness(t)
	ctx := newBrowser(t)
	const email, pw = "carol@example.com", "purple elephants dance quietly"

	navigate(t, ctx, h.issuer+"/register")
	resp := submit(t, ctx,
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), pw),
		chromedp.Click(chromedp.ID("register-submit")),
	)
	expectPage(t, ctx, "after registering", http.StatusOK, resp.Status, "Check your inbox")

	link := h.lastLink(email, 1)
	resp = navigate(t, ctx, tamper(link))
	expectPage(t, ctx, "tampered link", http.StatusBadRequest, resp.Status, "This link is invalid")
	resp = navigate(t, ctx, link)
	expectPage(t, ctx, "verification link", http.StatusOK, resp.Status, "Confirm that "+email)
	resp = click(t, ctx, "verify-confirm")
	expectPage(t, ctx, "after confirming", http.StatusOK, resp.Status, "Your email address is confirmed")
	if u, err := h.store.GetUserByEmail(ctxT(t), email); err != nil || !u.EmailVerified {
		t.Fatalf("after confirming: %+v %v", u, err)
	}
	click(t, ctx, "sign-in")
	signIn(t, ctx, email, pw)
	if text := pageText(t, ctx); !strings.Contains(text, "signed in as "+email) {
		t.Fatalf("sign-in after confirming: %q", text)
	}
	resp = navigate(t, ctx, link)
	expectPage(t, ctx, "link opened again", http.StatusBadRequest, resp.Status, "already used")
}

// TestBrowserResetRevokes_AN03_AN07: a signed-in user who also holds a refresh token at a client
// resets the password in the browser from the mailed link: the browser's session ends, the old
// refresh token is dead (invalid_grant), the link works once, and the new password signs in.
func TestBrowserResetRevokes_AN03_AN07(t *testing.T) {
	h := sqliteHarness(t)
	alice := h.user("alice@example.com")
	c, secret := h.confidential()
	cfg := h.oauthConfig(c, secret, "openid", "offline_access")
	sb, _ := h.httpSession(t, alice.Email)
	code, verifier := h.codeFlow(sb, cfg, alice.Email)
	tok, err := cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange: %v (refresh token %q)", err, tok.RefreshToken)
	}

	ctx := newBrowser(t)
	navigate(t, ctx, h.issuer+"/login")
	signIn(t, ctx, alice.Email, testPassword)
	if text := pageText(t, ctx); !strings.Contains(text, "signed in as "+alice.Email) {
		t.Fatalf("after sign-in: %q", text)
	}

	navigate(t, ctx, h.issuer+"/reset")
	resp := submit(t, ctx,
		chromedp.SendKeys(chromedp.ID("email"), alice.Email),
		chromedp.Click(chromedp.ID("reset-submit")),
	)
	expectPage(t, ctx, "after asking for a reset", http.StatusOK, resp.Status, "we sent it a link")
	link := h.lastLink(alice.Email, 1)

	resp = navigate(t, ctx, tamper(link))
	expectPage(t, ctx, "tampered reset link", http.StatusBadRequest, resp.Status, "This link is invalid")
	resp = navigate(t, ctx, link)
	expectPage(t, ctx, "reset link", http.StatusOK, resp.Status, "Choose a new password")
	// A common password is refused on the page; the link stays usable.
	resp = submit(t, ctx, chromedp.SendKeys(chromedp.ID("password"), "password123"), chromedp.Click(chromedp.ID("reset-confirm")))
	expectPage(t, ctx, "common password", http.StatusBadRequest, resp.Status, "most common")
	const newPW = "a brand new passphrase"
	resp = submit(t, ctx, chromedp.SendKeys(chromedp.ID("password"), newPW), chromedp.Click(chromedp.ID("reset-confirm")))
	expectPage(t, ctx, "after the reset", http.StatusOK, resp.Status, "Your password is changed")

	// Everything the old password opened is closed.
	navigate(t, ctx, h.issuer+"/")
	if path := eval[string](t, ctx, `location.pathname`); path != "/login" {
		t.Fatalf("the browser's session survived the reset: on %s", path)
	}
	if r, err := sb.client.Get(h.issuer + "/"); err != nil || r.Request.URL.Path != "/login" {
		t.Fatalf("the other session survived the reset: %v", err)
	}
	if _, err := cfg.TokenSource(ctxT(t), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("old refresh token after the reset: %v, want invalid_grant", err)
	}
	resp = navigate(t, ctx, link)
	expectPage(t, ctx, "reset link opened again", http.StatusBadRequest, resp.Status, "already used")

	navigate(t, ctx, h.issuer+"/login")
	signIn(t, ctx, alice.Email, testPassword)
	if text := pageText(t, ctx); !strings.Contains(text, "Invalid email or password") {
		t.Fatalf("old password after the reset: %q", text)
	}
	signIn(t, ctx, alice.Email, newPW)
	if text := pageText(t, ctx); !strings.Contains(text, "signed in as "+alice.Email) {
		t.Fatalf("new password after the reset: %q", text)
	}

	// Password change (AN-07) from the signed-in page: the current password is required.
	resp = click(t, ctx, "change-password")
	expectPage(t, ctx, "password page", http.StatusOK, resp.Status, "Change your password")
	resp = submit(t, ctx,
		chromedp.SendKeys(chromedp.ID("current-password"), "not my password"),
		chromedp.SendKeys(chromedp.ID("new-password"), "yet another passphrase"),
		chromedp.Click(chromedp.ID("password-submit")))
	expectPage(t, ctx, "wrong current password", http.StatusForbidden, resp.Status, "current password is wrong")
	resp = submit(t, ctx,
		chromedp.SendKeys(chromedp.ID("current-password"), newPW),
		chromedp.SendKeys(chromedp.ID("new-password"), "yet another passphrase"),
		chromedp.Click(chromedp.ID("password-submit")))
	expectPage(t, ctx, "password change", http.StatusOK, resp.Status, "Every other sign-in of your account has ended")
}

// TestBrowserExpiredLinks_AN03: verification and reset links past their lifetime show the
// invalid-link page in the browser.
func TestBrowserExpiredLinks_AN03(t *testing.T) {
	h := sqliteHarness(t, func(s *harnessSetup) {
		s.cfg.VerifyLinkLifespan = time.Second
		s.cfg.ResetLinkLifespan = time.Second
	})
	h.user("alice@example.com")
	b := h.browser()
	b.register("carol@example.com", "purple elephants dance quietly")
	form, _, _ := b.formFrom("/reset")
	form.Set("email", "alice@example.com")
	b.postPath("/reset", form)
	verify, reset := h.lastLink("carol@example.com", 1), h.lastLink("alice@example.com", 1)
	time.Sleep(1100 * time.Millisecond)
	ctx := newBrowser(t)
	for _, link := range []string{verify, reset} {
		resp := navigate(t, ctx, link)
		expectPage(t, ctx, "expired link", http.StatusBadRequest, resp.Status, "has expired")
	}
}
