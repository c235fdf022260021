package idp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// pageCSP is the Content-Security-Policy of every HTML page: no script at all, styles only from
// the provider, no framing (HD-01, HD-02, SE-08).
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// render writes an HTML page. Templates escape every value for its context.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, page, data); err != nil {
		s.log.Error("render page", "page", page, "err", err, "request_id", web.GetRequestID(r.Context()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows the HTML error page. message must be safe to show; it is escaped.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, title, message, code string) {
	s.render(w, r, status, "error.html", map[string]any{
		"Title": title, "Message": message, "Code": code, "RequestID": web.GetRequestID(r.Context()),
	})
}

// Cookie names. Under https they carry the __Host- prefix: Secure, Path=/ and no Domain (SE-01).
func (s *Server) cookieName(base string) string {
	if s.cfg.Secure() {
		return "__Host-" + base
	}
	return base
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration, sameSite http.SameSite) {
	c := &http.Cookie{
		Name: s.cookieName(name), Value: value, Path: "/", HttpOnly: true,
		Secure: s.cfg.Secure(), SameSite: sameSite,
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else if maxAge > 0 {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

const (
	sessionCookie = "gatehouse_session"
	csrfCookie    = "gatehouse_csrf"
)

// csrfToken returns the double-submit token for this browser, setting the cookie when absent.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(s.cookieName(csrfCookie)); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	tok := randomToken(32)
	s.setCookie(w, csrfCookie, tok, 0, http.SameSiteStrictMode)
	return tok
}

// checkCSRF compares the form's token with the cookie in constant time (SE-05).
func (s *Server) checkCSRF(r *http.Request) bool {
	c, err := r.Cookie(s.cookieName(csrfCookie))
	if err != nil || len(c.Value) < 32 {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf_token"))) == 1
}

// hashID is how opaque identifiers (session cookies) are stored: hex SHA-256.
func hashID(v string) string {
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// sign returns an expiring MAC over parts, bound to the server secret: "expiry.mac".
func (s *Server) sign(ttl time.Duration, parts ...string) string {
	exp := strconv.FormatInt(time.Now().Add(ttl).Unix(), 10)
	return exp + "." + b64(s.mac(exp, parts...))
}

// verify checks a value made by sign with the same parts.
func (s *Server) verify(sig string, parts ...string) bool {
	exp, mac, ok := strings.Cut(sig, ".")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > n {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	return err == nil && hmac.Equal(got, s.mac(exp, parts...))
}

func (s *Server) mac(exp string, parts ...string) []byte {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(exp))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// authorizePath is the only place a login may send the browser back to.
const authorizePath = "/oauth2/authorize"

// safeReturnTo accepts only a relative URL to the authorization endpoint; anything else becomes
// "/" (SE-07: no open redirect from login or logout).
func safeReturnTo(raw string) string {
	if raw == "" || strings.ContainsAny(raw, "\\\r\n\t") || !strings.HasPrefix(raw, authorizePath+"?") {
		return "/"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Path != authorizePath {
		return "/"
	}
	return u.RequestURI()
}
