package idp

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// invalidCredentials is the one message for every failed login, whether or not the account
// exists or is disabled (AN-01).
const invalidCredentials = "Invalid email or password."

// currentSession returns the live login session and its user, or nil. Expired sessions (idle or
// absolute timeout, SE-04) and sessions of disabled users count as none.
// sessionTouchInterval is how stale a session's last-seen time may get before a request writes
// it back; Config.Validate keeps the idle timeout well above it.
const sessionTouchInterval = time.Minute

func (s *Server) currentSession(ctx context.Context, r *http.Request) (*LoginSession, *User) {
	c, err := r.Cookie(s.cookieName(sessionCookie))
	if err != nil || c.Value == "" || len(c.Value) > 128 {
		return nil, nil
	}
	ls, err := s.store.GetLoginSession(ctx, hashID(c.Value))
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			s.log.Error("get login session", "err", err, "request_id", web.GetRequestID(ctx))
		}
		return nil, nil
	}
	now := time.Now()
	if !s.live(ls, now) {
		return nil, nil
	}
	u, err := s.store.GetUser(ctx, ls.UserID)
	if err != nil || u.Disabled {
		return nil, nil
	}
	if now.Sub(ls.LastSeenAt) > sessionTouchInterval { // avoid a write on every request
		if err := s.store.TouchLoginSession(ctx, ls.IDHash, now); err != nil {
			s.log.Warn("touch login session", "err", err)
		}
	}
	return ls, u
}

// live reports whether a login session is within its absolute and idle timeouts at now.
func (s *Server) live(ls *LoginSession, now time.Time) bool {
	return !now.After(ls.ExpiresAt) && now.Sub(ls.LastSeenAt) <= s.cfg.SessionIdleTimeout
}

// startSession ends the browser's previous session and starts a new one with a fresh ID, so a
// planted session ID never becomes an authenticated one (SE-02).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *User) error {
	ctx := r.Context()
	now := time.Now()
	sid := randomToken(16)
	if c, err := r.Cookie(s.cookieName(sessionCookie)); err == nil && c.Value != "" {
		// The same person signing in again in this browser (prompt=login, max_age) continues
		// the sign-in: the new session keeps its SID, so browser apps' grants bound to it live
		// on (LO-02). Another user, or an ended session, starts a new sign-in.
		if old, err := s.store.GetLoginSession(ctx, hashID(c.Value)); err == nil && old.UserID == u.ID && s.live(old, now) {
			sid = old.SID
		}
		if err := s.store.DeleteLoginSession(ctx, hashID(c.Value)); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	id := randomToken(32)
	if err := s.store.CreateLoginSession(ctx, &LoginSession{
		IDHash: hashID(id), SID: sid, UserID: u.ID, AuthTime: now, AMR: []string{"pwd"},
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(s.cfg.SessionAbsoluteTimeout),
	}); err != nil {
		return err
	}
	s.setCookie(w, sessionCookie, id, 0, http.SameSiteLaxMode)
	return nil
}

// endSession deletes the browser's session and its cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(s.cookieName(sessionCookie)); err == nil && c.Value != "" {
		if err := s.store.DeleteLoginSession(r.Context(), hashID(c.Value)); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	s.setCookie(w, sessionCookie, "", -1, http.SameSiteLaxMode)
	return nil
}

// signedIn returns the signed-in user, or sends the browser to the login page (303) and returns
// nil: the account pages need a session.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) *User {
	_, u := s.currentSession(r.Context(), r)
	if u == nil {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}
	return u
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	u := s.signedIn(w, r)
	if u == nil {
		return
	}
	s.render(w, r, http.StatusOK, "message.html", map[string]any{
		"Title": "Signed in", "Message": "You are signed in as " + u.Email + ".", "LoggedIn": true,
	})
}

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, safeReturnTo(r.URL.Query().Get("return_to")), r.URL.Query().Get("login_hint"), "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, returnTo, email, msg string) {
	if len(email) > 320 {
		email = ""
	}
	s.render(w, r, status, "login.html", map[string]any{
		"Title": "Sign in", "CSRF": s.csrfToken(w, r), "ReturnTo": returnTo, "Email": email, "Error": msg,
	})
}

// handleLogin checks the password and starts a session. The response for an unknown email, a
// wrong password and a disabled account is the same (AN-01), and an unknown email costs one
// hash too (AN-02).
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// A saturated hasher would refuse this attempt after the form, the throttle's write and the
	// lookup: refuse it first, so that once the hasher is full a flood costs the least a
	// request can (Verify still decides; this is only a shortcut).
	if s.hasher.Saturated() {
		s.busy(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.", "invalid_request")
		return
	}
	returnTo := safeReturnTo(r.PostForm.Get("return_to"))
	if !s.checkCSRF(r) {
		s.renderError(w, r, http.StatusForbidden, "Form expired", "The sign-in form was not sent from this site, or it expired. Go back and try again.", "csrf")
		return
	}
	email, password := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	if email == "" || password == "" || len(email) > 320 || len(password) > 1024 {
		s.renderLogin(w, r, http.StatusUnauthorized, returnTo, "", invalidCredentials)
		return
	}
	// The process's budget of password checks for browsers that never signed in to this
	// address (a flood from any number of addresses), before the throttle's write: a browser
	// with a device cookie minted for the address is the owner's and is not counted.
	if _, owner := s.deviceFor(r, email); !owner && !s.anonymousCheckAllowed(r) {
		s.busy(w, r)
		return
	}
	// Per-account throttle (RL-05), before any password is hashed. The key is the normalized
	// email whether or not an account has it, so a throttled answer says nothing about existence
	// (AN-01, RL-08), and the account is looked up only after admission. A browser whose device
	// cookie was minted for this address (so it once signed in to it: the address's existence
	// is no news to it) has the account loaded first, and counts apart under its cookie only
	// while the cookie is bound to the account's current password (RL-05: a reset or change
	// voids the cookies minted before), so an attacker cannot lock the owner out.
	lookup := func() (*User, bool) {
		u, err := s.store.GetUserByEmail(ctx, email)
		if errors.Is(err, ErrNotFound) {
			return nil, true
		}
		if err != nil {
			s.serverError(w, r, err)
			return nil, false
		}
		return u, true
	}
	key := throttleKey(email)
	var u *User
	loaded := false
	if d, ok := s.deviceFor(r, email); ok {
		if u, loaded = lookup(); !loaded {
			return
		}
		if s.boundTo(d, u) {
			key = d.key()
		}
	}
	allowed, retryAt, err := s.store.TakeLoginAttempt(ctx, key, s.cfg.LoginThrottle)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !allowed {
		s.throttled(w, r, returnTo, email, retryAt)
		return
	}
	if !loaded {
		if u, loaded = lookup(); !loaded {
			return
		}
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok, rehash, err := s.hasher.Verify(ctx, hash, password)
	if errors.Is(err, ErrHasherBusy) {
		s.busy(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if !ok || u == nil || u.Disabled {
		s.renderLogin(w, r, http.StatusUnauthorized, returnTo, "", invalidCredentials)
		return
	}
	for _, k := range []string{key, throttleKey(email)} {
		if err := s.store.ResetLoginAttempts(ctx, k); err != nil {
			s.log.Warn("reset login attempts", "err", err, "request_id", web.GetRequestID(ctx))
		}
	}
	if rehash {
		if h, err := s.hasher.Hash(ctx, password); err == nil {
			if s.store.UpdateUser(ctx, u.ID, func(u *User) error { u.PasswordHash = h; return nil }) == nil {
				u.PasswordHash = h // the device cookie binds the hash now stored
			}
		}
	}
	if !u.EmailVerified {
		// Only someone who knows the password learns that the address is unconfirmed. Signing
		// in waits for the link, so an account registered with someone else's address is never
		// used before its owner confirms it (pre-account takeover).
		s.sendVerification(ctx, u)
		s.render(w, r, http.StatusForbidden, "message.html", map[string]any{
			"Title":   "Confirm your email address",
			"Message": "Your email address is not confirmed yet. We sent a new confirmation link to it: open it, then sign in.",
		})
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		s.serverError(w, r, err)
		return
	}
	// Only a complete sign-in (right password, enabled, confirmed address) earns a device cookie:
	// an unconfirmed account, e.g. one an attacker pre-registered with someone else's address,
	// never collects private throttle buckets (RL-05).
	s.setDeviceCookie(w, u)
	// A fresh login satisfies prompt=login, prompt=select_account and any max_age: drop them so
	// the authorization does not send the user back to log in again.
	http.Redirect(w, r, afterLogin(returnTo), http.StatusSeeOther) // 303: never re-POST (AUTHZ-11)
}

// throttled answers an attempt the per-account throttle refused: 429 with Retry-After and the
// sign-in form, the same for known and unknown addresses (RL-08). No password was checked.
func (s *Server) throttled(w http.ResponseWriter, r *http.Request, returnTo, email string, retryAt time.Time) {
	s.tarpit.Hold(r.Context())
	n, ra := retryAfter(retryAt)
	w.Header().Set("Retry-After", ra)
	wait := "a second"
	switch {
	case n >= 120:
		wait = strconv.FormatInt((n+59)/60, 10) + " minutes"
	case n > 1:
		wait = strconv.FormatInt(n, 10) + " seconds"
	}
	s.renderLogin(w, r, http.StatusTooManyRequests, returnTo, email,
		"Too many failed sign-ins for this email address. Try again in "+wait+", or reset your password.")
}

// busy answers when password hashing is saturated: 503 with Retry-After, no queueing.
func (s *Server) busy(w http.ResponseWriter, r *http.Request) {
	s.tarpit.Hold(r.Context())
	w.Header().Set("Retry-After", "1")
	s.renderError(w, r, http.StatusServiceUnavailable, "Busy", "Too many requests at once. Try again in a moment.", "temporarily_unavailable")
}

// serverError logs err with the request ID and shows a page without internals.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("internal error", "err", err, "request_id", web.GetRequestID(r.Context()), "path", r.URL.Path)
	s.renderError(w, r, http.StatusInternalServerError, "Something went wrong", "The server could not complete the request. Try again later.", "server_error")
}
