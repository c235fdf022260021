package idp

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// singleParams may appear at most once in an authorization or token request (RFC 6749 §3.1,
// §3.2: "MUST NOT be included more than once"; AUTHZ-06).
var singleParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "prompt", "max_age",
	"code_challenge", "code_challenge_method", "request_uri", "request", "response_mode", "login_hint",
	"id_token_hint", "grant_type", "code", "code_verifier", "refresh_token", "client_secret",
	"client_assertion", "client_assertion_type", "token", "token_type_hint",
}

// maxAgeLimit is the max_age (seconds) from which no session is too old: it avoids overflowing
// time.Duration with absurd values.
const maxAgeLimit = 100 * 365 * 24 * 3600

// duplicateParam returns the first parameter of form that appears more than once.
func duplicateParam(form url.Values) string {
	for _, p := range singleParams {
		if len(form[p]) > 1 {
			return p
		}
	}
	return ""
}

// issWriter adds the RFC 9207 iss parameter to every redirect the authorization endpoint sends
// to a client, success or error (AUTHZ-10).
type issWriter struct {
	http.ResponseWriter
	iss string
}

func (w *issWriter) WriteHeader(code int) {
	if code == http.StatusFound || code == http.StatusSeeOther {
		if loc := w.Header().Get("Location"); loc != "" {
			if u, err := url.Parse(loc); err == nil && u.IsAbs() && !u.Query().Has("iss") {
				// Append, never re-encode: the registered URI's own query stays byte for byte.
				if u.RawQuery != "" {
					u.RawQuery += "&"
				}
				u.RawQuery += "iss=" + url.QueryEscape(w.iss)
				w.Header().Set("Location", u.String())
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

// handleAuthorize is the authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2). It validates
// the request through fosite, sends the browser to /login when there is no suitable session,
// shows the consent page when the client is third-party and the user has not consented to
// these scopes, and then issues the code.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt != "application/x-www-form-urlencoded" {
		// OIDC Core §3.1.2.1: a POSTed request is form-serialized. A multipart body would not be
		// seen by ParseForm, and with it neither the duplicate nor the request-object checks.
		s.renderError(w, r, http.StatusUnsupportedMediaType, "Invalid request", "Send the authorization request as a query or an application/x-www-form-urlencoded form.", "invalid_request")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Invalid request", "The authorization request could not be read.", "invalid_request")
		return
	}
	if p := duplicateParam(r.Form); p != "" {
		s.renderError(w, r, http.StatusBadRequest, "Invalid request", "The parameter "+p+" appears more than once.", "invalid_request")
		return
	}
	unsupported := takeRequestObject(r.Form, s.fosite.PushedAuthorizeRequestURIPrefix)
	ar, err := s.oauth.NewAuthorizeRequest(ctx, r)
	if unsupported != nil && (err == nil || ar.IsRedirectURIValid()) {
		err = unsupported
	}
	if err != nil {
		s.writeAuthorizeError(w, r, ar, err)
		return
	}
	if !redirectExact(ar) {
		s.renderError(w, r, http.StatusBadRequest, "Authorization failed", "The redirect_uri does not match a registered one.", "invalid_request")
		return
	}
	if r.Form.Get("request") != "" {
		// A request object in a multipart body, which takeRequestObject did not see: refused
		// too, never silently ignored (CONF-19, AUTHZ-12).
		s.writeAuthorizeError(w, r, ar, fosite.ErrRequestNotSupported)
		return
	}
	if n := ar.GetRequestForm().Get("nonce"); n != "" && len(n) < fosite.MinParameterEntropy && ar.GetRequestedScopes().Has("openid") {
		// fosite checks the nonce's length only when it signs the ID token, at the token
		// endpoint, after the code is spent: refuse it here, where the client can act (AUTHZ-08).
		s.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHintf("The nonce must have at least %d characters.", fosite.MinParameterEntropy))
		return
	}
	client, ok := ar.GetClient().(*Client)
	if !ok {
		s.serverError(w, r, errors.New("authorize: client of unexpected type"))
		return
	}
	returnTo := authorizeReturnTo(ar)
	prompt := fosite.RemoveEmpty(strings.Split(ar.GetRequestForm().Get("prompt"), " "))

	// Authentication.
	ls, user := s.currentSession(ctx, r)
	needLogin := ls == nil || slices.Contains(prompt, "login") || slices.Contains(prompt, "select_account")
	if ls != nil && !needLogin {
		if maxAge := ar.GetRequestForm().Get("max_age"); maxAge != "" {
			n, err := strconv.ParseInt(maxAge, 10, 64)
			if err != nil || n < 0 {
				s.writeAuthorizeError(w, r, ar, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer."))
				return
			}
			// auth_time has whole seconds, as in the ID token and fosite's own check.
			if n < maxAgeLimit {
				needLogin = time.Since(ls.AuthTime.Truncate(time.Second)) > time.Duration(n)*time.Second
			}
		}
	}
	if needLogin {
		if slices.Contains(prompt, "none") {
			s.writeAuthorizeError(w, r, ar, fosite.ErrLoginRequired)
			return
		}
		q := url.Values{"return_to": {returnTo}}
		if hint := ar.GetRequestForm().Get("login_hint"); hint != "" {
			q.Set("login_hint", hint)
		}
		http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
		return
	}

	// Scopes were checked against the client's by fosite; audiences too.
	scopes := []string(ar.GetRequestedScopes())
	audiences := s.audiences(ar)

	// Consent (CO-01, CO-03): first-party clients skip it unless the request asks for it with
	// prompt=consent (OIDC Core §3.1.2.1: the provider SHOULD then ask); others need a stored
	// consent that covers every requested scope and audience, and prompt=consent asks again.
	if !client.FirstParty || slices.Contains(prompt, "consent") {
		consented := false
		if !slices.Contains(prompt, "consent") {
			c, err := s.store.GetConsent(ctx, user.ID, client.ID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				s.serverError(w, r, err)
				return
			}
			consented = c != nil && containsAll(c.Scopes, scopes) && containsAll(c.Audiences, audiences)
		}
		if !consented {
			if slices.Contains(prompt, "none") {
				s.writeAuthorizeError(w, r, ar, fosite.ErrConsentRequired)
				return
			}
			s.renderConsent(w, r, ls, user, client, ar, scopes, audiences, returnTo)
			return
		}
	}

	for _, sc := range scopes {
		ar.GrantScope(sc)
	}
	for _, a := range audiences {
		ar.GrantAudience(a)
	}
	sess := s.newUserSession(client, user, ls, ar)
	resp, err := s.oauth.NewAuthorizeResponse(ctx, ar, sess)
	if err != nil {
		s.writeAuthorizeError(w, r, ar, err)
		return
	}
	s.oauth.WriteAuthorizeResponse(ctx, &issWriter{w, s.cfg.Issuer}, ar, resp)
}

// writeAuthorizeError redirects errors to the client when its redirect URI was validated, and
// otherwise shows an error page: never a redirect to an unvalidated URI (CONF-15, AUTHZ-01,
// AUTHZ-03).
func (s *Server) writeAuthorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	if errors.Is(err, ErrUnavailable) {
		err = storageUnavailable(err)
		w.Header().Set("Retry-After", "5")
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		s.log.Error("authorize", "err", err, "debug", rfc.DebugField)
	}
	if ar == nil || !ar.IsRedirectURIValid() || !redirectExact(ar) {
		s.renderError(w, r, rfc.CodeField, "Authorization failed", rfc.GetDescription(), rfc.ErrorField)
		return
	}
	// Only the query mode is offered: deliver errors that way even when the request asked for
	// form_post or fragment, so they carry iss and need no script (AUTHZ-05).
	if a, ok := ar.(*fosite.AuthorizeRequest); ok && a.ResponseMode != fosite.ResponseModeQuery {
		a.ResponseMode = fosite.ResponseModeQuery
	}
	s.oauth.WriteAuthorizeError(r.Context(), &issWriter{w, s.cfg.Issuer}, ar, printableError(rfc))
}

// printableError returns e with a description and hint fit for a redirect: RFC 6749 §4.1.2.1
// allows only printable ASCII but for '"' and '\' in error_description, and fosite's hints
// repeat request values (a scope, a response type) verbatim, control characters and all (AUTHZ-09).
func printableError(e *fosite.RFC6749Error) *fosite.RFC6749Error {
	return e.WithDescription(printableASCII(e.DescriptionField)).WithHint(printableASCII(e.HintField))
}

// printableASCII replaces every character outside %x20-21 / %x23-5B / %x5D-7E with '?'.
func printableASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '?'
		}
		return r
	}, s)
}

// takeRequestObject removes request objects from an authorization request's form before fosite
// reads it, and returns the error to answer once the redirect URI is known. Request objects are
// not supported (the metadata says so), and fosite would parse them, and fetch a request_uri the
// client registered, before it validates the redirect URI; only a request_uri from PAR (with
// fosite's prefix) stays (CONF-19, AUTHZ-12).
func takeRequestObject(form url.Values, parPrefix string) error {
	var err error
	switch ru := form.Get("request_uri"); {
	case form.Has("request"):
		err = fosite.ErrRequestNotSupported.WithHint("Request objects are not supported: send the parameters in the query, or push them to the PAR endpoint.")
	case ru != "" && !strings.HasPrefix(ru, parPrefix):
		err = fosite.ErrRequestURINotSupported.WithHint("Only request_uri values from the PAR endpoint are accepted.")
	}
	if err != nil {
		form.Del("request")
		form.Del("request_uri")
	}
	return err
}

// redirectExact reports whether the redirect_uri a request sent is registered for its client
// exactly, or differs from a registered loopback URI in its port alone (RFC 8252 §7.3). fosite
// lets a loopback URI differ in user info and in the escaping of its path as well
// (isMatchingAsLoopback compares the decoded path; AUTHZ-02). A request without redirect_uri
// uses the client's only registered one.
func redirectExact(ar fosite.AuthorizeRequester) bool {
	raw := ar.GetRequestForm().Get("redirect_uri")
	return raw == "" || ar.GetClient() != nil && matchRedirectURI(raw, ar.GetClient().GetRedirectURIs())
}

// matchRedirectURI reports whether raw is one of registered, or an http URI on a loopback IP
// literal that becomes one of them when its port is replaced by the registered port.
func matchRedirectURI(raw string, registered []string) bool {
	if slices.Contains(registered, raw) {
		return true
	}
	const scheme = "http://"
	if !strings.HasPrefix(raw, scheme) {
		return false
	}
	hier := raw[len(scheme):]
	end := strings.IndexAny(hier, "/?#")
	if end < 0 {
		end = len(hier)
	}
	authority, rest := hier[:end], hier[end:]
	u, err := url.Parse(scheme + authority)
	if err != nil || u.User != nil || u.Host != authority {
		return false
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, reg := range registered {
		if ru, err := url.Parse(reg); err == nil && ru.Hostname() == u.Hostname() && scheme+ru.Host+rest == reg {
			return true
		}
	}
	return false
}

// authorizeReturnTo is the relative URL that repeats this authorization request after login or
// consent. For a pushed request (PAR), whose request_uri is single use, it carries the pushed
// parameters themselves.
func authorizeReturnTo(ar fosite.AuthorizeRequester) string {
	q := url.Values{}
	for k, v := range ar.GetRequestForm() {
		if k == "request_uri" || k == "csrf_token" {
			continue
		}
		q[k] = v
	}
	return authorizePath + "?" + q.Encode()
}

// audiences is what a request's tokens are for: the requested audiences (fosite checked them
// against the client's), else the client's registered audiences, else the issuer itself (whose
// userinfo is the one resource every token may call), so that aud is never empty (RFC 9068 §3,
// RS-04).
func (s *Server) audiences(r fosite.Requester) []string {
	if aud := r.GetRequestedAudience(); len(aud) > 0 {
		return aud
	}
	if aud := r.GetClient().GetAudience(); len(aud) > 0 {
		return aud
	}
	return []string{s.cfg.Issuer}
}

// newUserSession builds the fosite session for a user's grant: ID-token claims per OIDC Core
// §2 and §5.4, the access token's client_id, and the grant's absolute end (RT-04).
func (s *Server) newUserSession(c *Client, u *User, ls *LoginSession, ar fosite.AuthorizeRequester) *Session {
	now := time.Now().UTC()
	claims := &jwt.IDTokenClaims{
		Subject:                         u.ID,
		Issuer:                          s.cfg.Issuer,
		AuthTime:                        ls.AuthTime.UTC().Truncate(time.Second),
		RequestedAt:                     now,
		AuthenticationMethodsReferences: ls.AMR,
		Extra:                           userClaims(u, ar.GetGrantedScopes()),
	}
	sess := &Session{
		DefaultSession: &openid.DefaultSession{Claims: claims, Headers: &jwt.Headers{}, Subject: u.ID, Username: u.Email},
		ClientID:       c.ID,
	}
	grant := s.cfg.GrantLifespan
	if c.RefreshTokenLifespan > 0 {
		grant = c.RefreshTokenLifespan
	}
	sess.GrantExpiresAt = now.Add(grant)
	if c.BrowserBased() {
		sess.LoginSession = ls.SID
	}
	return sess
}

// userClaims returns the claims of the standard scopes the grant includes (OIDC Core §5.4).
func userClaims(u *User, scopes fosite.Arguments) map[string]any {
	m := map[string]any{}
	if scopes.Has("email") {
		m["email"] = u.Email
		m["email_verified"] = u.EmailVerified
	}
	if scopes.Has("profile") {
		if u.Name != "" {
			m["name"] = u.Name
		}
		m["updated_at"] = u.UpdatedAt.Unix()
	}
	return m
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// consentChallengeLifespan is how long a consent page can be answered.
const consentChallengeLifespan = 10 * time.Minute

// renderConsent shows the consent page. Its challenge binds the decision to this login session
// and this exact request, for a few minutes, and can be answered once (CO-02): a random ID,
// covered by the MAC, that handleConsent records as used.
func (s *Server) renderConsent(w http.ResponseWriter, r *http.Request, ls *LoginSession, u *User, c *Client, ar fosite.AuthorizeRequester, scopes, audiences []string, returnTo string) {
	type scopeView struct{ Name, Description string }
	var views []scopeView
	for _, sc := range scopes {
		views = append(views, scopeView{sc, scopeDescription(sc)})
	}
	s.render(w, r, http.StatusOK, "consent.html", map[string]any{
		"Title": "Allow access?", "ClientName": c.Name, "UserEmail": u.Email,
		"Scopes": views, "Audiences": audiences, "RedirectHost": ar.GetRedirectURI().Host,
		"CSRF": s.csrfToken(w, r), "ReturnTo": returnTo,
		"Challenge": s.consentChallenge(ls, returnTo),
	})
}

func scopeDescription(scope string) string {
	switch scope {
	case "openid":
		return "know who you are"
	case "profile":
		return "see your name"
	case "email":
		return "see your email address"
	case "offline_access":
		return "keep access while you are away"
	default:
		return "the permission “" + scope + "”"
	}
}

// handleConsent records the user's decision (CO-01, CO-04) and resumes the authorization.
func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil || !s.checkCSRF(r) {
		s.renderError(w, r, http.StatusForbidden, "Form expired", "The consent form was not sent from this site, or it expired. Start again from the application.", "csrf")
		return
	}
	ls, user := s.currentSession(ctx, r)
	returnTo := r.PostForm.Get("return_to")
	if ls == nil || safeReturnTo(returnTo) != returnTo {
		s.renderError(w, r, http.StatusForbidden, "Consent expired", "This consent request is not valid for your session. Start again from the application.", "invalid_request")
		return
	}
	switch err := s.useConsentChallenge(ctx, r.PostForm.Get("challenge"), ls, returnTo); {
	case errors.Is(err, errChallengeUsed):
		s.renderError(w, r, http.StatusConflict, "Already answered", "This consent request was already answered. Start again from the application.", "invalid_request")
		return
	case errors.Is(err, errChallengeInvalid):
		s.renderError(w, r, http.StatusForbidden, "Consent expired", "This consent request is not valid for your session. Start again from the application.", "invalid_request")
		return
	case err != nil:
		s.serverError(w, r, err)
		return
	}
	ar, err := s.reparseAuthorize(ctx, returnTo)
	if err != nil {
		s.writeAuthorizeError(w, r, ar, err)
		return
	}
	if r.PostForm.Get("decision") != "allow" {
		s.writeAuthorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return
	}
	client := ar.GetClient()
	audiences := s.audiences(ar)
	scopes := []string(ar.GetRequestedScopes())
	if old, err := s.store.GetConsent(ctx, user.ID, client.GetID()); err == nil {
		scopes = union(old.Scopes, scopes)
		audiences = union(old.Audiences, audiences)
	}
	now := time.Now()
	if err := s.store.SaveConsent(ctx, &Consent{UserID: user.ID, ClientID: client.GetID(), Scopes: scopes, Audiences: audiences, CreatedAt: now, UpdatedAt: now}); err != nil {
		s.serverError(w, r, err)
		return
	}
	// Consent given: do not ask again on the way back.
	http.Redirect(w, r, withoutPrompt(returnTo, "consent"), http.StatusSeeOther)
}

// reparseAuthorize validates a stored authorize URL through fosite again.
func (s *Server) reparseAuthorize(ctx context.Context, returnTo string) (fosite.AuthorizeRequester, error) {
	u, _ := url.Parse(returnTo)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.RequestURI(), nil)
	if err != nil {
		return nil, err
	}
	return s.oauth.NewAuthorizeRequest(ctx, req)
}

// afterLogin is the authorization URL to resume after a fresh login: its prompt=login,
// prompt=select_account and max_age are satisfied.
func afterLogin(returnTo string) string {
	u, err := url.Parse(withoutPrompt(returnTo, "login", "select_account"))
	if err != nil || u.Path != authorizePath {
		return returnTo
	}
	q := u.Query()
	q.Del("max_age")
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

// withoutPrompt removes values from the prompt parameter of an authorize URL.
func withoutPrompt(returnTo string, values ...string) string {
	u, err := url.Parse(returnTo)
	if err != nil {
		return returnTo
	}
	q := u.Query()
	var keep []string
	for _, v := range strings.Fields(q.Get("prompt")) {
		if !slices.Contains(values, v) {
			keep = append(keep, v)
		}
	}
	if len(keep) == 0 {
		q.Del("prompt")
	} else {
		q.Set("prompt", strings.Join(keep, " "))
	}
	u.RawQuery = q.Encode()
	return u.RequestURI()
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

var (
	errChallengeInvalid = errors.New("consent challenge invalid or expired")
	errChallengeUsed    = errors.New("consent challenge already used")
)

// consentChallenge is ID.EXP.MAC: a random ID, and sign's expiry and MAC over the session, the
// request and the ID.
func (s *Server) consentChallenge(ls *LoginSession, returnTo string) string {
	id := randomToken(16)
	return id + "." + s.sign(consentChallengeLifespan, "consent", ls.IDHash, returnTo, id)
}

// useConsentChallenge checks a challenge against the session and the request and records its ID
// as used, atomically: of two answers to one page, one wins and the other gets errChallengeUsed.
// The IDs are recorded with the client-assertion jtis (a table with exactly that single-use
// semantics), under a prefix no JWT ID a client sends can share without knowing the random ID.
func (s *Server) useConsentChallenge(ctx context.Context, challenge string, ls *LoginSession, returnTo string) error {
	id, sig, ok := strings.Cut(challenge, ".")
	if !ok || id == "" || !s.verify(sig, "consent", ls.IDHash, returnTo, id) {
		return errChallengeInvalid
	}
	exp, _, _ := strings.Cut(sig, ".")
	n, _ := strconv.ParseInt(exp, 10, 64) // verify parsed it
	err := s.store.SetClientAssertionJWT(ctx, "gatehouse-consent-challenge\x00"+id, time.Unix(n, 0))
	if errors.Is(err, fosite.ErrJTIKnown) {
		return errChallengeUsed
	}
	return err
}
