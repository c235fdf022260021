package idp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// The account pages: registration with email verification, password reset by mail, and
// password change. Every answer that could tell whether an address has an account is the same
// either way (AN-03); links carry a random 256-bit token of which only the SHA-256 is stored, and
// each works once (Store.ConsumeUserToken).

// Messages shown whatever the address, so that they reveal nothing (AN-03).
const (
	registeredMessage = "Check your inbox: we sent a message to %s. Open the link in it to confirm your address, then sign in."
	resetSentMessage  = "If an account uses %s, we sent it a link to choose a new password. The link works once, for %s."
	badLinkMessage    = "This link is invalid, was already used, or has expired. Ask for a new one."
)

// mailThrottle bounds the mail sent to one address across every IP (RL-07: limited per
// identifier too), so that nobody floods an inbox with registrations or reset requests from many
// networks: five at once, then one after a minute, doubling to one an hour. A request whose mail
// is refused gets the same answer and sends nothing. The count is a throttle key in the database
// (Store.TakeLoginAttempt), shared by every instance.
var mailThrottle = ThrottlePolicy{Free: 5, Base: time.Minute, Max: time.Hour}

// mayMail reports whether one more mail may go to the address now.
func (s *Server) mayMail(ctx context.Context, email string) bool {
	return s.mayMailKey(ctx, hashID("mail:"+NormalizeEmail(email)))
}

// mayMailKey is mayMail on a throttle key: the address's, or a device cookie's (resetMailKey).
func (s *Server) mayMailKey(ctx context.Context, key string) bool {
	ok, _, err := s.store.TakeLoginAttempt(ctx, key, mailThrottle)
	if err != nil {
		s.log.Error("mail throttle", "err", err, "request_id", web.GetRequestID(ctx))
		return false
	}
	return ok
}

// reservedLocalParts are mailbox names (RFC 2142 and the usual staff names) that nobody may
// register at the provider's own domain: an account there would pass for the operator's.
var reservedLocalParts = map[string]bool{
	"admin": true, "administrator": true, "root": true, "postmaster": true, "hostmaster": true,
	"webmaster": true, "abuse": true, "security": true, "noc": true, "support": true,
	"noreply": true, "no-reply": true, "gatehouse": true, "system": true,
}

// CanonicalEmail is how a new account's address is stored (AN-09): surrounding space trimmed
// and NFKC applied, so fullwidth "ａｌｉｃｅ@example.com" is "alice@example.com"; case is kept
// for display, while uniqueness and look-ups go through NormalizeEmail, which also lower-cases
// the whole address (one account per address whatever its case). It refuses what is not a plain
// addr-spec, mixes Latin with Cyrillic or Greek letters (look-alikes of another address) or is
// a reserved name at the provider's own domain (issuerHost; may be empty).
func CanonicalEmail(raw, issuerHost string) (string, error) {
	e := strings.TrimSpace(norm.NFKC.String(raw))
	if e == "" || len(e) > 254 || !utf8.ValidString(e) {
		return "", formError("Enter a valid email address.")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", formError("Enter a valid email address, such as name@example.com.")
	}
	local, domain, _ := strings.Cut(e, "@")
	if mixedScripts(local) || mixedScripts(domain) {
		return "", formError("This address mixes letters of different alphabets. Enter it as your provider spells it.")
	}
	if h := strings.ToLower(issuerHost); h != "" && strings.EqualFold(domain, h) && reservedLocalParts[strings.ToLower(local)] {
		return "", formError("This address is reserved.")
	}
	return e, nil
}

// formError is a message about a form field, written for the person who filled it in.
type formError string

func (e formError) Error() string { return string(e) }

// mixedScripts reports whether s has letters from Latin and from Cyrillic or Greek, the classic
// homoglyph mix ("аlice" with a Cyrillic а).
func mixedScripts(s string) bool {
	var latin, other bool
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Latin, r):
			latin = true
		case unicode.Is(unicode.Cyrillic, r), unicode.Is(unicode.Greek, r):
			other = true
		}
	}
	return latin && other
}

// formPage renders one of the account forms with its common fields.
func (s *Server) formPage(w http.ResponseWriter, r *http.Request, status int, page, title string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Title"] = title
	data["CSRF"] = s.csrfToken(w, r)
	data["MinLength"] = s.cfg.MinPasswordLength
	data["MaxLength"] = MaxPasswordRunes
	s.render(w, r, status, page, data)
}

// readForm parses the form and checks its CSRF token; it answers and returns false otherwise.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.", "invalid_request")
		return false
	}
	if !s.checkCSRF(r) {
		s.renderError(w, r, http.StatusForbidden, "Form expired", "The form was not sent from this site, or it expired. Go back, reload the page and try again.", "csrf")
		return false
	}
	return true
}

// linkURL is the absolute URL of a mailed link.
func (s *Server) linkURL(path, token string) string {
	return s.cfg.Issuer + path + "?" + url.Values{"token": {token}}.Encode()
}

// newUserToken stores a fresh link token for the user and returns the token for the link.
func (s *Server) newUserToken(ctx context.Context, userID, purpose string, ttl time.Duration) (string, error) {
	tok := randomToken(32)
	now := time.Now()
	err := s.store.CreateUserToken(ctx, &UserToken{Hash: hashID(tok), UserID: userID, Purpose: purpose, CreatedAt: now, ExpiresAt: now.Add(ttl)})
	return tok, err
}

// sendVerification mails u a new verification link. Errors are logged: the caller's answer must
// not depend on them.
func (s *Server) sendVerification(ctx context.Context, u *User) {
	if !s.mayMail(ctx, u.Email) {
		return
	}
	tok, err := s.newUserToken(ctx, u.ID, PurposeVerifyEmail, s.cfg.VerifyLinkLifespan)
	if err != nil {
		s.log.Error("create verification token", "err", err, "request_id", web.GetRequestID(ctx))
		return
	}
	s.sendMail(Message{To: u.Email, Subject: "Confirm your email address", Text: "Hello,\n\n" +
		"Open this link to confirm your email address for your Gatehouse account:\n\n" +
		s.linkURL("/verify", tok) + "\n\nThe link works once, for " + humanDuration(s.cfg.VerifyLinkLifespan) + ".\n" +
		"If you did not create an account, ignore this message.\n"})
}

// humanDuration writes a link lifetime for a mail: "24 hours", "30 minutes".
func humanDuration(d time.Duration) string {
	if d >= time.Hour && d%time.Hour == 0 {
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	if m := d / time.Minute; m > 1 {
		return fmt.Sprintf("%d minutes", m)
	}
	return "1 minute"
}

func (s *Server) handleRegisterPage(w http.ResponseWriter, r *http.Request) {
	s.formPage(w, r, http.StatusOK, "register.html", "Create an account", nil)
}

// handleRegister creates an unverified account and mails a verification link. For an address
// that already has an account it mails its owner instead, and answers exactly the same after
// the same work (one password hash), so neither the page nor its timing tells (AN-03). Only the
// email and password fields are read (AN-08): anything else in the form is ignored.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.readForm(w, r) {
		return
	}
	rawEmail, password := r.PostForm.Get("email"), r.PostForm.Get("password")
	again := func(msg string) {
		if len(rawEmail) > 320 {
			rawEmail = ""
		}
		s.formPage(w, r, http.StatusBadRequest, "register.html", "Create an account", map[string]any{"Email": rawEmail, "Error": msg})
	}
	issuerHost := ""
	if u, err := url.Parse(s.cfg.Issuer); err == nil {
		issuerHost = u.Hostname()
	}
	email, err := CanonicalEmail(rawEmail, issuerHost)
	if err != nil {
		again(err.Error())
		return
	}
	if len(password) > MaxPasswordLength {
		again("Use at most 256 characters.")
		return
	}
	if err := CheckPassword(password, email, s.cfg.MinPasswordLength); err != nil {
		if !errors.Is(err, ErrWeakPassword) {
			s.serverError(w, r, err)
			return
		}
		again(err.Error())
		return
	}
	// Hash first, whether or not the address is taken: both paths cost one hash, from the
	// process's budget of anonymous password checks.
	if !s.anonymousCheckAllowed(r) {
		s.busy(w, r)
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if errors.Is(err, ErrHasherBusy) {
		s.busy(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// The floor counts from here: the hash (and any wait for it) is the same for both paths,
	// and under load it alone could use up the floor measured from arrival.
	hashed := time.Now()
	existing, err := s.store.GetUserByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
		now := time.Now()
		u := &User{ID: uuid.NewString(), Email: email, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		err = s.store.CreateUser(ctx, u)
		if errors.Is(err, ErrConflict) { // registered at the same moment: treat as taken
			existing, err = s.store.GetUserByEmail(ctx, email)
			if err == nil {
				s.mailAccountExists(ctx, existing)
			}
		} else if err == nil {
			s.sendVerification(ctx, u)
		}
	case err == nil:
		s.mailAccountExists(ctx, existing)
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.answerNoSooner(ctx, hashed)
	s.render(w, r, http.StatusOK, "message.html", map[string]any{
		"Title": "Check your inbox", "Message": fmt.Sprintf(registeredMessage, email),
	})
}

// answerNoSooner waits until Config.AccountAnswerFloor has passed since from (or the request
// ends), so that a taken and a free address are answered after the same time (AN-03).
func (s *Server) answerNoSooner(ctx context.Context, from time.Time) {
	wait := time.Until(from.Add(s.cfg.AccountAnswerFloor))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// mailAccountExists tells the owner of an address that someone tried to register it. It names
// no password and changes nothing; the owner who forgot can reset.
func (s *Server) mailAccountExists(ctx context.Context, u *User) {
	if u.Disabled || !s.mayMail(ctx, u.Email) {
		return
	}
	s.sendMail(Message{To: u.Email, Subject: "Someone tried to create an account with your address", Text: "Hello,\n\n" +
		"Someone, perhaps you, tried to create a Gatehouse account with this email address, which already has one.\n" +
		"Nothing was changed. If you forgot your password, choose a new one here:\n\n" + s.cfg.Issuer + "/reset\n\n" +
		"If it was not you, you can ignore this message.\n"})
}

// tokenParam bounds a link token read from a request; "" is none.
func tokenParam(v string) string {
	if len(v) == 0 || len(v) > 128 {
		return ""
	}
	return v
}

// handleVerifyPage shows the confirmation button for a verification link. Opening the link
// changes nothing (mail scanners open links); the POST does.
func (s *Server) handleVerifyPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok := tokenParam(r.URL.Query().Get("token"))
	u, err := s.linkUser(ctx, tok, PurposeVerifyEmail)
	if err != nil {
		s.linkError(w, r, err)
		return
	}
	s.formPage(w, r, http.StatusOK, "verify.html", "Confirm your email address", map[string]any{"Token": tok, "Email": u.Email})
}

// handleVerify redeems a verification link: the token is deleted as it is used (single use).
func (s *Server) handleVerify(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.readForm(w, r) {
		return
	}
	tok := tokenParam(r.PostForm.Get("token"))
	if tok == "" {
		s.linkError(w, r, ErrNotFound)
		return
	}
	t, err := s.store.ConsumeUserToken(ctx, hashID(tok), PurposeVerifyEmail)
	if err != nil {
		s.linkError(w, r, err)
		return
	}
	if err := s.store.UpdateUser(ctx, t.UserID, func(u *User) error { u.EmailVerified = true; return nil }); err != nil {
		s.linkError(w, r, err)
		return
	}
	s.confirmed(ctx, t.UserID)
	s.render(w, r, http.StatusOK, "message.html", map[string]any{
		"Title": "Email address confirmed", "Message": "Your email address is confirmed. You can now sign in.", "SignIn": true,
	})
}

// confirmed runs the OnConfirmed hook for a user whose address was just proved.
func (s *Server) confirmed(ctx context.Context, userID string) {
	if s.onConfirmed == nil {
		return
	}
	if err := s.onConfirmed(ctx, userID); err != nil {
		s.log.Error("after an email confirmation", "err", err, "user_id", userID, "request_id", web.GetRequestID(ctx))
	}
}

// linkUser returns the user of an unexpired link without using the link. ErrNotFound: no such
// link (or user); any other error is a storage failure, which linkError answers with a 500.
func (s *Server) linkUser(ctx context.Context, tok, purpose string) (*User, error) {
	if tok == "" {
		return nil, ErrNotFound
	}
	t, err := s.store.GetUserToken(ctx, hashID(tok), purpose)
	if err != nil {
		return nil, err
	}
	return s.store.GetUser(ctx, t.UserID)
}

// linkError answers a bad, used or expired link with one page (400), and logs storage failures.
func (s *Server) linkError(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, ErrNotFound) {
		s.serverError(w, r, err)
		return
	}
	s.renderError(w, r, http.StatusBadRequest, "Link not valid", badLinkMessage, "invalid_link")
}

func (s *Server) handleResetRequestPage(w http.ResponseWriter, r *http.Request) {
	s.formPage(w, r, http.StatusOK, "reset_request.html", "Reset your password", nil)
}

// handleResetRequest mails a reset link when the address has an enabled account, and answers
// the same either way (AN-03). Mails per address are throttled too (mailThrottle).
func (s *Server) handleResetRequest(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	arrived := time.Now()
	if !s.readForm(w, r) {
		return
	}
	email := strings.TrimSpace(norm.NFKC.String(r.PostForm.Get("email")))
	if err := ValidateEmail(email); err != nil {
		if len(email) > 320 {
			email = ""
		}
		s.formPage(w, r, http.StatusBadRequest, "reset_request.html", "Reset your password", map[string]any{
			"Email": email, "Error": "Enter a valid email address, such as name@example.com.",
		})
		return
	}
	if err := s.sendReset(ctx, email, s.resetMailKey(r, email)); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.answerNoSooner(ctx, arrived)
	s.render(w, r, http.StatusOK, "message.html", map[string]any{
		"Title":   "Check your inbox",
		"Message": fmt.Sprintf(resetSentMessage, email, humanDuration(s.cfg.ResetLinkLifespan)),
	})
}

// resetMailKey is the mail throttle key of a reset request (review F13). A browser holding a
// device cookie bound to the account's current password counts under its own key, like a
// sign-in: an attacker who holds the address's mail throttle at its cap does not keep the owner
// from mailing herself a link from a browser she signed in with. Other browsers share the
// address's key. Only a browser whose cookie was minted for this address has the account looked
// up here, so the answer and the work for an unknown address are as before (AN-03).
func (s *Server) resetMailKey(r *http.Request, email string) string {
	key := hashID("mail:" + NormalizeEmail(email))
	d, ok := s.deviceFor(r, email)
	if !ok {
		return key
	}
	u, err := s.store.GetUserByEmail(r.Context(), email)
	if err != nil || !s.boundTo(d, u) {
		return key
	}
	return hashID("mail-device:" + d.nonce)
}

func (s *Server) sendReset(ctx context.Context, email, mailKey string) error {
	if !s.mayMailKey(ctx, mailKey) {
		return nil
	}
	u, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || u.Disabled {
		return err
	}
	tok, err := s.newUserToken(ctx, u.ID, PurposeResetPassword, s.cfg.ResetLinkLifespan)
	if err != nil {
		return err
	}
	s.sendMail(Message{To: u.Email, Subject: "Reset your password", Text: "Hello,\n\n" +
		"Open this link to choose a new password for your Gatehouse account:\n\n" + s.linkURL("/reset/confirm", tok) +
		"\n\nThe link works once, for " + humanDuration(s.cfg.ResetLinkLifespan) + ". Setting a new password signs you out everywhere.\n" +
		"If you did not ask for this, ignore this message: your password stays as it is.\n"})
	return nil
}

// handleResetPage shows the new-password form of a reset link, without using the link.
func (s *Server) handleResetPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tok := tokenParam(r.URL.Query().Get("token"))
	u, err := s.linkUser(ctx, tok, PurposeResetPassword)
	if err == nil && u.Disabled {
		err = ErrNotFound
	}
	if err != nil {
		s.linkError(w, r, err)
		return
	}
	s.formPage(w, r, http.StatusOK, "reset.html", "Choose a new password", map[string]any{"Token": tok, "Email": u.Email})
}

// handleReset sets the new password of a reset link. In one transaction it uses the link, sets
// the password, confirms the address (the link proved it), ends every login session and revokes
// every refresh and access token of the user; then it drops the user's other reset links and the
// account's throttle count.
func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.readForm(w, r) {
		return
	}
	tok := tokenParam(r.PostForm.Get("token"))
	u, err := s.linkUser(ctx, tok, PurposeResetPassword)
	if err == nil && u.Disabled {
		err = ErrNotFound
	}
	if err != nil {
		s.linkError(w, r, err)
		return
	}
	password := r.PostForm.Get("password")
	if err := CheckPassword(password, u.Email, s.cfg.MinPasswordLength); err != nil || len(password) > MaxPasswordLength {
		if err != nil && !errors.Is(err, ErrWeakPassword) {
			s.serverError(w, r, err)
			return
		}
		msg := "Use at most 256 characters."
		if err != nil {
			msg = err.Error()
		}
		s.formPage(w, r, http.StatusBadRequest, "reset.html", "Choose a new password", map[string]any{"Token": tok, "Email": u.Email, "Error": msg})
		return
	}
	hash, err := s.hasher.Hash(ctx, password)
	if errors.Is(err, ErrHasherBusy) {
		s.busy(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.ConsumeUserToken(ctx, hashID(tok), PurposeResetPassword); err != nil {
			return err
		}
		return s.replacePassword(ctx, u.ID, hash, true)
	})
	if err != nil {
		s.linkError(w, r, err)
		return
	}
	if !u.EmailVerified {
		s.confirmed(ctx, u.ID) // the reset link proved the address
	}
	if err := s.store.DeleteUserTokens(ctx, u.ID, PurposeResetPassword); err != nil {
		s.log.Warn("delete reset tokens", "err", err, "request_id", web.GetRequestID(ctx))
	}
	if err := s.store.ResetLoginAttempts(ctx, throttleKey(u.Email)); err != nil {
		s.log.Warn("reset login attempts", "err", err, "request_id", web.GetRequestID(ctx))
	}
	s.setCookie(w, sessionCookie, "", -1, http.SameSiteLaxMode)
	// The link proved the address: this browser counts apart from the account's throttle, so an
	// attacker who keeps the account throttled does not keep its owner out after a reset.
	u.PasswordHash = hash // bound to the new password: every older device cookie is void
	s.setDeviceCookie(w, u)
	s.render(w, r, http.StatusOK, "message.html", map[string]any{
		"Title": "Password changed", "Message": "Your password is changed and every sign-in of your account has ended. Sign in with the new password.", "SignIn": true,
	})
}

// replacePassword sets the user's password hash (and, for a reset, confirms the address), ends
// every login session and revokes every token of the user (AN-07, RT-08), in ctx's transaction.
func (s *Server) replacePassword(ctx context.Context, userID, hash string, verified bool) error {
	if err := s.store.UpdateUser(ctx, userID, func(u *User) error {
		u.PasswordHash = hash
		if verified {
			u.EmailVerified = true
		}
		return nil
	}); err != nil {
		return err
	}
	if err := s.store.DeleteUserLoginSessions(ctx, userID); err != nil {
		return err
	}
	return s.store.RevokeSubjectTokens(ctx, userID)
}

// inTx runs fn in a store transaction, committed when fn returns nil.
func (s *Server) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	tx, err := s.store.BeginTX(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = s.store.Rollback(tx)
		return err
	}
	return s.store.Commit(tx)
}

// handlePasswordPage shows the password change form to a signed-in user.
func (s *Server) handlePasswordPage(w http.ResponseWriter, r *http.Request) {
	u := s.signedIn(w, r)
	if u == nil {
		return
	}
	s.formPage(w, r, http.StatusOK, "password.html", "Change your password", map[string]any{"Email": u.Email})
}

// handlePassword changes a signed-in user's password. The current password is required (AN-07)
// and counted by the account's throttle like a sign-in, so a borrowed session cannot guess it;
// afterwards every other session ends and the user's tokens are revoked, and this browser gets a
// new session.
func (s *Server) handlePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := s.signedIn(w, r)
	if u == nil {
		return
	}
	if !s.readForm(w, r) {
		return
	}
	again := func(status int, msg string) {
		s.formPage(w, r, status, "password.html", "Change your password", map[string]any{"Email": u.Email, "Error": msg})
	}
	current, next := r.PostForm.Get("current_password"), r.PostForm.Get("new_password")
	if current == "" || len(current) > MaxPasswordLength {
		again(http.StatusBadRequest, "Enter your current password.")
		return
	}
	key := s.deviceKey(r, u)
	if key == "" {
		key = throttleKey(u.Email)
	}
	allowed, retryAt, err := s.store.TakeLoginAttempt(ctx, key, s.cfg.LoginThrottle)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !allowed {
		s.tarpit.Hold(ctx)
		_, ra := retryAfter(retryAt)
		w.Header().Set("Retry-After", ra)
		again(http.StatusTooManyRequests, "Too many wrong passwords. Try again in "+ra+" seconds.")
		return
	}
	ok, _, err := s.hasher.Verify(ctx, u.PasswordHash, current)
	if errors.Is(err, ErrHasherBusy) {
		s.busy(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ok {
		again(http.StatusForbidden, "The current password is wrong.")
		return
	}
	_ = s.store.ResetLoginAttempts(ctx, key)
	if len(next) > MaxPasswordLength {
		again(http.StatusBadRequest, "Use at most 256 characters.")
		return
	}
	if err := CheckPassword(next, u.Email, s.cfg.MinPasswordLength); err != nil {
		if !errors.Is(err, ErrWeakPassword) {
			s.serverError(w, r, err)
			return
		}
		again(http.StatusBadRequest, err.Error())
		return
	}
	hash, err := s.hasher.Hash(ctx, next)
	if errors.Is(err, ErrHasherBusy) {
		s.busy(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.inTx(ctx, func(ctx context.Context) error { return s.replacePassword(ctx, u.ID, hash, false) }); err != nil {
		s.serverError(w, r, err)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.serverError(w, r, err)
		return
	}
	u.PasswordHash = hash // the change voided every device cookie; this browser proved the password
	s.setDeviceCookie(w, u)
	s.render(w, r, http.StatusOK, "message.html", map[string]any{
		"Title": "Password changed", "Message": "Your password is changed. Every other sign-in of your account has ended.", "LoggedIn": true,
	})
}
