package idp_test

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
)

// sentMail is a mail read back from the outbox.
type sentMail struct {
	file, to, subject, body string
}

// mails returns every mail in the outbox, oldest first.
func (h *harness) mails() []sentMail {
	h.t.Helper()
	files, _ := filepath.Glob(filepath.Join(h.outbox, "*.eml"))
	sort.Strings(files)
	var out []sentMail
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			h.t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			h.t.Fatalf("outbox file %s: %v", f, err)
		}
		var body []byte
		if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body, err = io.ReadAll(quotedprintable.NewReader(msg.Body))
		} else {
			body, err = io.ReadAll(msg.Body)
		}
		if err != nil {
			h.t.Fatalf("outbox file %s: %v", f, err)
		}
		to, _ := netmail.ParseAddress(msg.Header.Get("To"))
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			h.t.Fatalf("outbox file %s: subject: %v", f, err)
		}
		if to == nil {
			h.t.Fatalf("outbox file %s: no To", f)
		}
		out = append(out, sentMail{file: f, to: to.Address, subject: subject, body: string(body)})
	}
	return out
}

// bcryptHash is an imported user's hash.
func bcryptHash(t *testing.T, pw string) (string, error) {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

// waitMail waits until the outbox holds n mails to `to` and returns them.
func (h *harness) waitMail(to string, n int) []sentMail {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got []sentMail
		for _, m := range h.mails() {
			if strings.EqualFold(m.to, to) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("outbox: %d mails to %s, want %d", len(got), to, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var linkRe = regexp.MustCompile(`https?://[^\s]+/(?:verify|reset/confirm)\?token=[A-Za-z0-9_-]+`)

// lastLink waits for the n-th mail to `to` and returns the link in it.
func (h *harness) lastLink(to string, n int) string {
	h.t.Helper()
	ms := h.waitMail(to, n)
	m := ms[n-1]
	link := linkRe.FindString(m.body)
	if link == "" {
		h.t.Fatalf("mail %q to %s has no link: %s", m.subject, to, m.body)
	}
	return link
}

// formFrom fetches path with b and returns the form fields of its page that pass CSRF.
func (b *browser) formFrom(path string) (url.Values, *http.Response, string) {
	b.h.t.Helper()
	resp, err := b.client.Get(b.h.issuer + path)
	if err != nil {
		b.h.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := url.Values{"csrf_token": {submatch(csrfRe, string(body))}}
	if tok := submatch(regexp.MustCompile(`name="token" value="([^"]*)"`), string(body)); tok != "" {
		form.Set("token", tok)
	}
	return form, resp, string(body)
}

// register posts the registration form with b.
func (b *browser) register(email, password string, extra ...string) (*http.Response, string) {
	b.h.t.Helper()
	form, _, _ := b.formFrom("/register")
	form.Set("email", email)
	form.Set("password", password)
	for i := 0; i+1 < len(extra); i += 2 {
		form.Add(extra[i], extra[i+1])
	}
	return b.postPath("/register", form)
}

// followLink opens a mailed link with b and submits the form it shows (with password for a
// reset link), returning the final answer.
func (b *browser) followLink(link, password string) (*http.Response, string) {
	b.h.t.Helper()
	u, _ := url.Parse(link)
	form, resp, body := b.formFrom(u.RequestURI())
	if resp.StatusCode != http.StatusOK {
		return resp, body
	}
	if password != "" {
		form.Set("password", password)
	}
	return b.postPath(u.Path, form)
}

// login posts the login form and reports whether the browser ended signed in.
func (b *browser) login(email, password string) (bool, *http.Response, string) {
	b.h.t.Helper()
	resp, body := b.postPath("/login", b.loginForm(email, password))
	return resp.StatusCode == http.StatusOK && strings.Contains(body, "You are signed in"), resp, body
}

// signUp registers and verifies an account through the mailed link.
func (h *harness) signUp(email, password string) *idp.User {
	h.t.Helper()
	b := h.browser()
	n := len(h.mailsTo(email))
	if resp, body := b.register(email, password); resp.StatusCode != http.StatusOK {
		h.t.Fatalf("register %s: %d %s", email, resp.StatusCode, trim([]byte(body)))
	}
	if resp, body := b.followLink(h.lastLink(email, n+1), ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "confirmed") {
		h.t.Fatalf("verify %s: %d %s", email, resp.StatusCode, trim([]byte(body)))
	}
	u, err := h.store.GetUserByEmail(h.t.Context(), email)
	if err != nil || !u.EmailVerified {
		h.t.Fatalf("after verification: %+v %v", u, err)
	}
	return u
}

func (h *harness) mailsTo(to string) []sentMail {
	var got []sentMail
	for _, m := range h.mails() {
		if strings.EqualFold(m.to, to) {
			got = append(got, m)
		}
	}
	return got
}

// TestRegisterAndVerify_AN03_AN08: registration creates an unverified account that cannot sign
// in until the mailed link is used; the link shows a confirmation button (opening it changes
// nothing), works once, and a tampered one is refused with a clear page. Registering a taken
// address answers exactly the same and mails the owner instead, changing nothing (AN-03). Extra
// form fields and JSON bodies are ignored or refused (AN-08).
func TestRegisterAndVerify_AN03_AN08(t *testing.T) {
	h := sqliteHarness(t)
	alice := h.user("alice@example.com")
	b := h.browser()
	const pw = "purple elephants dance quietly"
	resp, newBody := b.register("carol@example.com", pw,
		"role", "admin", "email_verified", "true", "sub", alice.ID, "is_admin", "1", "id", "1", "name", "Mallory")
	if resp.StatusCode != http.StatusOK || !strings.Contains(newBody, "Check your inbox") {
		t.Fatalf("register: %d %s", resp.StatusCode, trim([]byte(newBody)))
	}
	carol, err := h.store.GetUserByEmail(ctxT(t), "carol@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if carol.EmailVerified || carol.ID == "1" || carol.ID == alice.ID || carol.Name != "" || carol.Disabled {
		t.Fatalf("mass assignment reached the account: %+v", carol)
	}
	// Before verification the right password does not sign in; a new link is mailed.
	if ok, resp, body := h.browser().login("carol@example.com", pw); ok || resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not confirmed") {
		t.Fatalf("login before verification: %d %s", resp.StatusCode, trim([]byte(body)))
	}
	link := h.lastLink("carol@example.com", 1)
	// Opening the link shows a button and changes nothing.
	u, _ := url.Parse(link)
	_, page, body := b.formFrom(u.RequestURI())
	if page.StatusCode != http.StatusOK || !strings.Contains(body, `id="verify-confirm"`) {
		t.Fatalf("verification page: %d %s", page.StatusCode, trim([]byte(body)))
	}
	if c, _ := h.store.GetUser(ctxT(t), carol.ID); c.EmailVerified {
		t.Fatal("opening the link verified the address")
	}
	// Tampered links: one character changed, cut, or the token of another purpose.
	tok := u.Query().Get("token")
	flip := map[byte]byte{'A': 'B'}[tok[0]]
	if flip == 0 {
		flip = 'A'
	}
	for _, bad := range []string{string(flip) + tok[1:], tok[:len(tok)-1], tok + "x", "", strings.Repeat("A", 500), "%00"} {
		r, body := b.followLink(h.issuer+"/verify?token="+url.QueryEscape(bad), "")
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid, was already used, or has expired") {
			t.Fatalf("tampered link %q: %d %s", bad, r.StatusCode, trim([]byte(body)))
		}
	}
	if r, body := b.followLink(link, ""); r.StatusCode != http.StatusOK || !strings.Contains(body, "confirmed") {
		t.Fatalf("verification: %d %s", r.StatusCode, trim([]byte(body)))
	}
	if r, _ := b.followLink(link, ""); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("link used twice: %d, want 400", r.StatusCode)
	}
	// The second link (mailed at the refused login) was not used; it still works once.
	if r, _ := b.followLink(h.lastLink("carol@example.com", 2), ""); r.StatusCode != http.StatusOK {
		t.Fatalf("second link: %d", r.StatusCode)
	}
	if ok, resp, body := h.browser().login("carol@example.com", pw); !ok {
		t.Fatalf("login after verification: %d %s", resp.StatusCode, trim([]byte(body)))
	}

	// AN-03: a taken address gets the same answer; its owner gets a notice; nothing changes.
	before := alice.PasswordHash
	resp, takenBody := h.browser().register("alice@example.com", pw)
	resp2, freeBody := h.browser().register("dave@example.com", pw)
	if resp.StatusCode != resp2.StatusCode || strings.Replace(takenBody, "alice@", "dave@", 1) != freeBody {
		t.Fatalf("taken and free addresses answered differently:\n%d %s\n%d %s", resp.StatusCode, trim([]byte(takenBody)), resp2.StatusCode, trim([]byte(freeBody)))
	}
	notice := h.waitMail("alice@example.com", 1)[0]
	if !strings.Contains(notice.subject, "Someone tried to create an account") || linkRe.MatchString(notice.body) {
		t.Fatalf("notice to the owner: %q %s", notice.subject, notice.body)
	}
	if a, _ := h.store.GetUser(ctxT(t), alice.ID); a.PasswordHash != before {
		t.Fatal("registering a taken address changed its password")
	}

	// AN-08: a JSON body is not a form: refused with a page, no account.
	req, _ := http.NewRequest(http.MethodPost, h.issuer+"/register", strings.NewReader(`{"email":"eve@example.com","password":"purple elephants dance","email_verified":true}`))
	req.Header.Set("Content-Type", "application/json")
	r, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden && r.StatusCode != http.StatusBadRequest {
		t.Fatalf("JSON registration: %d, want 400 or 403", r.StatusCode)
	}
	if _, err := h.store.GetUserByEmail(ctxT(t), "eve@example.com"); err == nil {
		t.Fatal("JSON registration created an account")
	}
}

// TestVerifyLinkExpires_AN03: a verification link past its lifetime is refused.
func TestVerifyLinkExpires_AN03(t *testing.T) {
	h := sqliteHarness(t, func(s *harnessSetup) { s.cfg.VerifyLinkLifespan = time.Second })
	b := h.browser()
	b.register("carol@example.com", "purple elephants dance quietly")
	link := h.lastLink("carol@example.com", 1)
	time.Sleep(1100 * time.Millisecond)
	if r, body := b.followLink(link, ""); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Fatalf("expired link: %d %s", r.StatusCode, trim([]byte(body)))
	}
}

// TestEmailCanonicalization_AN09: case, surrounding space and fullwidth forms name the same
// account (so they get the taken-address notice, not a second account); a Latin/Cyrillic mix and
// reserved or malformed names are refused.
func TestEmailCanonicalization_AN09(t *testing.T) {
	h := sqliteHarness(t)
	h.user("alice@example.com")
	const pw = "purple elephants dance quietly"
	for i, e := range []string{"Alice@example.com", "alice@example.com ", " ALICE@EXAMPLE.COM", "ａｌｉｃｅ@example.com"} {
		if r, body := h.browser().register(e, pw); r.StatusCode != http.StatusOK {
			t.Fatalf("register %q: %d %s", e, r.StatusCode, trim([]byte(body)))
		}
		h.waitMail("alice@example.com", i+1) // the owner's notice, each time
	}
	host := strings.Split(strings.TrimPrefix(h.issuer, "http://"), ":")[0]
	for _, e := range []string{"аlice@example.com", "alice@exаmple.com", "admin@" + host, "postmaster@" + host,
		"admin", "*", "role:admin", "alice", "<alice@example.com>", "Alice <alice@example.com>", "a@b@c", strings.Repeat("a", 250) + "@example.com"} {
		r, body := h.browser().register(e, pw)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
			t.Fatalf("register %q: %d %s, want 400 with a message", e, r.StatusCode, trim([]byte(body)))
		}
	}
	users, _ := h.store.ListUsers(ctxT(t))
	if len(users) != 1 {
		t.Fatalf("%d accounts after the look-alikes, want 1", len(users))
	}
	// A fully Cyrillic address is another address, not a look-alike mix: allowed.
	if r, _ := h.browser().register("алиса@example.com", pw); r.StatusCode != http.StatusOK {
		t.Fatalf("Cyrillic address: %d", r.StatusCode)
	}
}

// TestPasswordRules_AN04_AN05_AN06 at registration and at password change: at least 8 code
// points; long passphrases (64 ASCII, 64 CJK = 192 bytes, 256) accepted and usable; more than
// 256 refused with a clear maximum, never a 500; no composition rules; no truncation (AN-05);
// common and context-specific passwords refused (AN-06); NFKC applied.
func TestPasswordRules_AN04_AN05_AN06(t *testing.T) {
	h := sqliteHarness(t)
	if n := idp.CommonPasswordCount(); n < 10000 {
		t.Fatalf("common password list: %d entries, want at least 10,000", n)
	}
	for _, tt := range []struct {
		name, email, pw, wantErr string
	}{
		{"7 characters", "a1@example.com", "abcdefg", "at least 8"},
		{"7 CJK characters (21 bytes)", "a2@example.com", strings.Repeat("漢", 7), "at least 8"},
		{"257 characters", "a3@example.com", strings.Repeat("x", 257), "at most 256"},
		{"5000 bytes", "a4@example.com", strings.Repeat("x", 5000), "at most 256"},
		{"password123", "a5@example.com", "password123", "most common"},
		{"qwertyuiop12", "a6@example.com", "qwertyuiop12", "most common"},
		{"common in upper case", "a7@example.com", "PASSWORD123", "most common"},
		{"the email", "bobby.tables@example.com", "bobby.tables@example.com", "email address"},
		{"the local part", "bobby.tables@example.com", "bobby.tables", "email address"},
		{"containing the local part", "bobby.tables@example.com", "my name is bobby.tables!", "email address"},
		{"the product name", "a8@example.com", "Gatehouse2026!", "name of this service"},
		{"not UTF-8", "a9@example.com", "abc\xff\xfedefgh", "not valid text"},
	} {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			r, body := h.browser().register(tt.email, tt.pw)
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, tt.wantErr) {
				t.Fatalf("%d %s, want 400 saying %q", r.StatusCode, trim([]byte(body)), tt.wantErr)
			}
		})
	}
	long100 := strings.Repeat("abcdefghij", 10)
	for i, pw := range []string{
		strings.Repeat("Zq", 32),       // 64 ASCII
		strings.Repeat("漢字", 32),       // 64 CJK, 192 bytes
		"correct horse battery staple", // a four-word passphrase, no digits or symbols
		"sunlight over quiet harbours", // lower case only
		strings.Repeat("ü", 256),       // exactly the maximum, 512 bytes
		long100,                        // AN-05
		"ｆｕｌｌｗｉｄｔｈ ｐａｓｓｐｈｒａｓｅ ｈｅｒｅ", // NFKC: signs in as ASCII too
	} {
		email := "ok" + string(rune('a'+i)) + "@example.com"
		h.signUp(email, pw)
		if ok, r, body := h.browser().login(email, pw); !ok {
			t.Fatalf("password %d (%d runes): login %d %s", i, len([]rune(pw)), r.StatusCode, trim([]byte(body)))
		}
	}
	// AN-05: the first 72 bytes of a 100-character password are not the password.
	if ok, _, _ := h.browser().login("okf@example.com", long100[:72]); ok {
		t.Fatal("the 72-character prefix signed in")
	}
	// NFKC: the fullwidth passphrase equals its ASCII form.
	if ok, _, _ := h.browser().login("okg@example.com", "fullwidth passphrase here"); !ok {
		t.Fatal("the NFKC form of the password did not sign in")
	}
	// AN-06 at password change.
	b := h.browser()
	if ok, _, _ := b.login("okc@example.com", "correct horse battery staple"); !ok {
		t.Fatal("login")
	}
	for _, bad := range []string{"password123", "qwertyuiop12", "okc@example.com", "gatehouse rocks!", "short"} {
		form, _, _ := b.formFrom("/password")
		form.Set("current_password", "correct horse battery staple")
		form.Set("new_password", bad)
		if r, body := b.postPath("/password", form); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
			t.Fatalf("password change to %q: %d %s", bad, r.StatusCode, trim([]byte(body)))
		}
	}
}

// TestRehashAndImportedHashes: a hash under old argon2id parameters is replaced at login; an
// imported bcrypt hash signs in and is replaced with argon2id; bcrypt never compares a 72-byte
// truncation (AN-05); a hash made before NFKC (NFC) still signs in and is replaced.
func TestRehashAndImportedHashes(t *testing.T) {
	h := sqliteHarness(t)
	ctx := ctxT(t)
	old, err := idp.NewPasswordHasher(idp.Argon2Params{Memory: 4096, Time: 1, Threads: 1}, 1, 1).Hash(ctx, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(email, hash string) *idp.User {
		u := &idp.User{Email: email, EmailVerified: true, PasswordHash: hash}
		if err := h.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	a := mk("old@example.com", old)
	bc, _ := bcryptHash(t, testPassword)
	b := mk("bcrypt@example.com", bc)
	long := strings.Repeat("0123456789", 8) // 80 bytes
	bcLongPrefix, _ := bcryptHash(t, long[:72])
	c := mk("bcrypt72@example.com", bcLongPrefix)
	for _, u := range []*idp.User{a, b} {
		if ok, r, body := h.browser().login(u.Email, testPassword); !ok {
			t.Fatalf("%s: %d %s", u.Email, r.StatusCode, trim([]byte(body)))
		}
		got, _ := h.store.GetUser(ctx, u.ID)
		if !strings.HasPrefix(got.PasswordHash, "$argon2id$v=19$m=8192,t=1,p=1$") {
			t.Fatalf("%s: hash after login %q, want argon2id under the current parameters", u.Email, got.PasswordHash[:30])
		}
		if ok, _, _ := h.browser().login(u.Email, testPassword); !ok {
			t.Fatalf("%s: login with the new hash failed", u.Email)
		}
	}
	if ok, _, _ := h.browser().login(c.Email, long); ok {
		t.Fatal("an 80-byte password matched the bcrypt hash of its 72-byte prefix")
	}
	if ok, _, _ := h.browser().login(c.Email, long[:72]); !ok {
		t.Fatal("the exact 72-byte password did not match its bcrypt hash")
	}
}

// TestPasswordReset_AN03: the request page answers the same for known and unknown addresses
// and mails only the known one; the link shows a form (opening it changes nothing); a weak new
// password is refused and the link still works; the reset changes the password, confirms the
// address, ends every login session and revokes the refresh and access tokens; the link then
// works no more, and a tampered or expired one never did.
func TestPasswordReset_AN03(t *testing.T) {
	h := sqliteHarness(t)
	alice := h.user("alice@example.com")
	c, secret := h.confidential()
	cfg := h.oauthConfig(c, secret, "openid", "offline_access")
	sb, _ := h.httpSession(t, "alice@example.com")
	code, verifier := h.codeFlow(sb, cfg, "alice@example.com")
	tok, err := cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.userinfo(tok.AccessToken); ok != http.StatusOK {
		t.Fatalf("userinfo before reset: %d", ok)
	}

	ask := func(email string) (*http.Response, string) {
		b := h.browser()
		form, _, _ := b.formFrom("/reset")
		form.Set("email", email)
		return b.postPath("/reset", form)
	}
	r1, known := ask("alice@example.com")
	r2, unknown := ask("nobody@example.com")
	if r1.StatusCode != http.StatusOK || r1.StatusCode != r2.StatusCode || strings.Replace(known, "alice@", "nobody@", 1) != unknown {
		t.Fatalf("known and unknown addresses answered differently:\n%d %s\n%d %s", r1.StatusCode, trim([]byte(known)), r2.StatusCode, trim([]byte(unknown)))
	}
	link := h.lastLink("alice@example.com", 1)
	time.Sleep(100 * time.Millisecond)
	if n := len(h.mailsTo("nobody@example.com")); n != 0 {
		t.Fatalf("%d mails to an unknown address", n)
	}
	b := h.browser()
	for _, weak := range []string{"password123", "short", strings.Repeat("x", 300)} {
		if r, body := b.followLink(link, weak); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="form-error"`) {
			t.Fatalf("reset to %q: %d %s", weak, r.StatusCode, trim([]byte(body)))
		}
	}
	u, _ := url.Parse(link)
	for _, bad := range []string{h.issuer + "/reset/confirm?token=" + u.Query().Get("token")[1:], tamper(link), h.issuer + "/reset/confirm?token="} {
		if r, _ := b.followLink(bad, "brand new passphrase"); r.StatusCode != http.StatusBadRequest {
			t.Fatalf("tampered reset link %q: %d", bad, r.StatusCode)
		}
	}
	const newPW = "brand new passphrase"
	if r, body := b.followLink(link, newPW); r.StatusCode != http.StatusOK || !strings.Contains(body, "Password changed") {
		t.Fatalf("reset: %d %s", r.StatusCode, trim([]byte(body)))
	}
	if r, _ := b.followLink(link, "another new passphrase"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("reset link used twice: %d, want 400", r.StatusCode)
	}
	// Sessions, refresh and access tokens are gone.
	if r, err := sb.client.Get(h.issuer + "/"); err != nil || r.Request.URL.Path != "/login" {
		t.Fatalf("old session after reset: %v %v", r.Request.URL, err)
	}
	if _, err := cfg.TokenSource(ctxT(t), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("refresh after reset: %v, want invalid_grant", err)
	}
	if code, _ := h.userinfo(tok.AccessToken); code != http.StatusUnauthorized {
		t.Fatalf("userinfo with the old access token after reset: %d, want 401", code)
	}
	if ok, _, _ := h.browser().login("alice@example.com", testPassword); ok {
		t.Fatal("the old password still signs in")
	}
	if ok, _, _ := h.browser().login("alice@example.com", newPW); !ok {
		t.Fatal("the new password does not sign in")
	}
	// An attacker throttles the account again; the browser that used the link still signs in
	// (the reset gave it a device cookie: RL-05, no lockout of the owner).
	attacker := h.browser()
	for range 6 {
		attacker.postPath("/login", attacker.loginForm("alice@example.com", "wrong password"))
	}
	if ok, r, _ := attacker.login("alice@example.com", newPW); ok || r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("attacker's browser with the right password: %d, want 429", r.StatusCode)
	}
	if ok, r, body := b.login(alice.Email, newPW); !ok {
		t.Fatalf("the browser that reset, while the account is throttled: %d %s", r.StatusCode, trim([]byte(body)))
	}
}

// TestResetLinkExpires_AN03: a reset link past its lifetime is refused; an unverified account
// that resets is verified (the link proved the address).
func TestResetLinkExpires_AN03(t *testing.T) {
	h := sqliteHarness(t, func(s *harnessSetup) { s.cfg.ResetLinkLifespan = time.Second })
	h.browser().register("carol@example.com", "purple elephants dance quietly")
	ask := func() {
		b := h.browser()
		form, _, _ := b.formFrom("/reset")
		form.Set("email", "carol@example.com")
		b.postPath("/reset", form)
	}
	ask()
	link := h.lastLink("carol@example.com", 2)
	time.Sleep(1100 * time.Millisecond)
	if r, body := h.browser().followLink(link, "brand new passphrase"); r.StatusCode != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Fatalf("expired reset link: %d %s", r.StatusCode, trim([]byte(body)))
	}
	ask()
	if r, _ := h.browser().followLink(h.lastLink("carol@example.com", 3), "brand new passphrase"); r.StatusCode != http.StatusOK {
		t.Fatalf("fresh reset link: %d", r.StatusCode)
	}
	if ok, _, _ := h.browser().login("carol@example.com", "brand new passphrase"); !ok {
		t.Fatal("reset did not confirm the address")
	}
}

// TestPasswordChange_AN07: a change needs the current password; afterwards the user's other
// sessions end and its refresh tokens are revoked, while this browser stays signed in.
func TestPasswordChange_AN07(t *testing.T) {
	h := sqliteHarness(t)
	h.user("alice@example.com")
	c, secret := h.confidential()
	cfg := h.oauthConfig(c, secret, "openid", "offline_access")
	other, _ := h.httpSession(t, "alice@example.com")
	code, verifier := h.codeFlow(other, cfg, "alice@example.com")
	tok, err := cfg.Exchange(ctxT(t), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := h.httpSession(t, "alice@example.com")
	const newPW = "a completely new passphrase"
	for _, tt := range []struct {
		current string
		status  int
	}{{"", http.StatusBadRequest}, {"wrong password", http.StatusForbidden}} {
		form, _, _ := b.formFrom("/password")
		form.Set("current_password", tt.current)
		form.Set("new_password", newPW)
		if r, _ := b.postPath("/password", form); r.StatusCode != tt.status {
			t.Fatalf("change with current %q: %d, want %d", tt.current, r.StatusCode, tt.status)
		}
	}
	form, _, _ := b.formFrom("/password")
	form.Set("current_password", testPassword)
	form.Set("new_password", newPW)
	if r, body := b.postPath("/password", form); r.StatusCode != http.StatusOK || !strings.Contains(body, "Password changed") {
		t.Fatalf("change: %d %s", r.StatusCode, trim([]byte(body)))
	}
	if r, _ := b.client.Get(h.issuer + "/"); r.Request.URL.Path != "/" {
		t.Fatal("the browser that changed the password was signed out")
	}
	if r, _ := other.client.Get(h.issuer + "/"); r.Request.URL.Path != "/login" {
		t.Fatal("the other session survived the password change")
	}
	if _, err := cfg.TokenSource(ctxT(t), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Fatal("refresh token survived the password change")
	}
	if ok, _, _ := h.browser().login("alice@example.com", newPW); !ok {
		t.Fatal("new password does not sign in")
	}
	// Without a session the form sends the browser to sign in.
	anon := h.browser()
	anon.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if r, _ := anon.client.Get(h.issuer + "/password"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("GET /password without a session: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestLoginSameAnswer_AN01: an unknown address, a wrong password, a disabled account and an
// unconfirmed account with a wrong password get the same status, body and cookies.
func TestLoginSameAnswer_AN01(t *testing.T) {
	h := sqliteHarness(t)
	h.user("alice@example.com")
	dis := h.user("disabled@example.com")
	if err := h.store.UpdateUser(ctxT(t), dis.ID, func(u *idp.User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	h.browser().register("new@example.com", "purple elephants dance quietly")
	b := h.browser()
	var first string
	for _, tt := range []struct{ email, pw string }{
		{"nobody@example.com", "wrong password"}, {"alice@example.com", "wrong password"},
		{"disabled@example.com", testPassword}, {"new@example.com", "wrong password"},
	} {
		r, body := b.postPath("/login", b.loginForm(tt.email, tt.pw))
		var cookies []string
		for _, c := range r.Cookies() {
			cookies = append(cookies, c.Name)
		}
		got := r.Status + " " + strings.Join(cookies, ",") + " " + body
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid email or password.") {
			t.Fatalf("%s: %d %s", tt.email, r.StatusCode, trim([]byte(body)))
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Fatalf("%s answered differently:\n%s\n%s", tt.email, got, first)
		}
	}
}

// TestDefaultsAndForms_AN10: no default accounts; password fields are type=password and allow
// password managers (autocomplete is not off) on every form.
func TestDefaultsAndForms_AN10(t *testing.T) {
	h := sqliteHarness(t)
	for _, cred := range [][2]string{{"admin", "admin"}, {"admin@localhost", "admin"}, {"test", "test"}, {"test@example.com", "test"}} {
		if ok, _, _ := h.browser().login(cred[0], cred[1]); ok {
			t.Fatalf("default account %s signed in", cred[0])
		}
	}
	h.user("alice@example.com")
	b, _ := h.httpSession(t, "alice@example.com")
	pwField := regexp.MustCompile(`<input[^>]*type="password"[^>]*>`)
	for _, path := range []string{"/login", "/register", "/password"} {
		_, r, body := b.formFrom(path)
		if path == "/login" {
			_, r, body = h.browser().formFrom(path)
		}
		fields := pwField.FindAllString(body, -1)
		if r.StatusCode != http.StatusOK || len(fields) == 0 {
			t.Fatalf("%s: %d, no password field", path, r.StatusCode)
		}
		for _, f := range fields {
			if !strings.Contains(f, `autocomplete="current-password"`) && !strings.Contains(f, `autocomplete="new-password"`) {
				t.Fatalf("%s: password field %s does not invite password managers", path, f)
			}
		}
		if strings.Contains(body, `autocomplete="off"`) || strings.Contains(body, "onpaste") {
			t.Fatalf("%s: blocks password managers or paste", path)
		}
		for _, hdr := range []string{"Content-Security-Policy", "X-Frame-Options"} {
			if r.Header.Get(hdr) == "" && hdr == "Content-Security-Policy" {
				t.Fatalf("%s: no %s", path, hdr)
			}
		}
		if !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatalf("%s: CSP %q", path, r.Header.Get("Content-Security-Policy"))
		}
	}
}

// TestMailFloodPerAddress_RL07: registration and reset requests are limited per IP by the
// limiter and, across IPs, the mail to one address is throttled: ten reset requests and ten
// registrations of a taken address send that address five mails in all, with the same answer
// each time.
func TestMailFloodPerAddress_RL07(t *testing.T) {
	h := sqliteHarness(t)
	h.user("alice@example.com")
	b := h.browser()
	var first string
	for i := range 10 {
		form, _, _ := b.formFrom("/reset")
		form.Set("email", "alice@example.com")
		r, body := b.postPath("/reset", form)
		if i == 0 {
			first = body
		}
		if r.StatusCode != http.StatusOK || body != first {
			t.Fatalf("reset request %d: %d, answer changed", i+1, r.StatusCode)
		}
		if r, _ := b.register("alice@example.com", "purple elephants dance quietly"); r.StatusCode != http.StatusOK {
			t.Fatalf("registration %d: %d", i+1, r.StatusCode)
		}
	}
	h.waitMail("alice@example.com", 5)
	time.Sleep(200 * time.Millisecond)
	if n := len(h.mailsTo("alice@example.com")); n != 5 {
		t.Fatalf("%d mails to one address from 20 requests, want 5", n)
	}
	// The per-IP limit on the forms (Limits.Account) answers 429 with the page.
	h2 := sqliteHarness(t, withLimits(idp.Limits{Account: "2-M", Login: "100-M"}))
	b2 := h2.browser()
	for i := range 3 {
		r, body := b2.register("x"+string(rune('a'+i))+"@example.com", "purple elephants dance quietly")
		if want := http.StatusOK; i == 2 {
			checkLimited(t, r, "third registration from one IP")
			if !strings.Contains(body, "Too many attempts") {
				t.Fatalf("limited registration page: %s", trim([]byte(body)))
			}
		} else if r.StatusCode != want {
			t.Fatalf("registration %d: %d", i+1, r.StatusCode)
		}
	}
}

// TestOnConfirmedHook: the OnConfirmed hook (default roles, in `gatehouse serve`) runs once a
// person proves their address, by the verification link or by a reset link of an unconfirmed
// account, and never at registration itself (which costs the same for a taken address, AN-03).
func TestOnConfirmedHook(t *testing.T) {
	var mu sync.Mutex
	var got []string
	h := sqliteHarness(t, func(s *harnessSetup) {
		s.deps.OnConfirmed = func(_ context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, id)
			return nil
		}
	})
	calls := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	const pw = "purple elephants dance quietly"
	for _, email := range []string{"carol@example.com", "dan@example.com"} {
		if resp, _ := h.browser().register(email, pw); resp.StatusCode != http.StatusOK {
			t.Fatalf("register %s: %d", email, resp.StatusCode)
		}
	}
	if c := calls(); len(c) != 0 {
		t.Fatalf("hook ran at registration: %v", c)
	}
	carol, _ := h.store.GetUserByEmail(ctxT(t), "carol@example.com")
	dan, _ := h.store.GetUserByEmail(ctxT(t), "dan@example.com")
	if r, _ := h.browser().followLink(h.lastLink("carol@example.com", 1), ""); r.StatusCode != http.StatusOK {
		t.Fatalf("verify: %d", r.StatusCode)
	}
	if c := calls(); !slices.Equal(c, []string{carol.ID}) {
		t.Fatalf("after carol's verification the hook ran for %v, want [%s]", c, carol.ID)
	}
	// Dan never opens his verification link but resets his password: that proves the address.
	b := h.browser()
	form, _, _ := b.formFrom("/reset")
	form.Set("email", "dan@example.com")
	b.postPath("/reset", form)
	if r, body := b.followLink(h.lastLink("dan@example.com", 2), "brand new passphrase"); r.StatusCode != http.StatusOK {
		t.Fatalf("reset: %d %s", r.StatusCode, trim([]byte(body)))
	}
	if c := calls(); !slices.Equal(c, []string{carol.ID, dan.ID}) {
		t.Fatalf("after dan's reset the hook ran for %v, want [%s %s]", c, carol.ID, dan.ID)
	}
	// A reset of an address already confirmed runs it no more.
	form, _, _ = b.formFrom("/reset")
	form.Set("email", "carol@example.com")
	b.postPath("/reset", form)
	if r, _ := b.followLink(h.lastLink("carol@example.com", 2), "another new passphrase"); r.StatusCode != http.StatusOK {
		t.Fatalf("carol's reset: %d", r.StatusCode)
	}
	if c := calls(); len(c) != 2 {
		t.Fatalf("a confirmed account's reset ran the hook: %v", c)
	}
}
