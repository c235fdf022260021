package idp

import (
	"crypto/hmac"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ThrottlePolicy is the per-account login throttle (RL-05, NIST SP 800-63B §5.2.2): the first
// Free attempts on an account go through at once; from then on every attempt waits for the
// previous one's delay, which doubles from Base up to Max. A success resets the count.
//
// The count lives in the database (Store.TakeLoginAttempt), so every instance shares it, and an
// attempt is counted when it is admitted, before the password is hashed: 100 parallel guesses
// cannot slip through between a check and an update.
type ThrottlePolicy struct {
	Free int           // attempts without delay; default 5
	Base time.Duration // delay after the first attempt past Free; default 1 s
	Max  time.Duration // cap of the delay; default 15 min
}

// Defaults of the per-account throttle. With them an attacker gets 5 guesses, then 10 more in
// the next 17 minutes, then 4 an hour (about 100 a day) per account, while the owner waits at
// most 15 minutes, and not at all from a browser they signed in with before (device cookie).
const (
	DefaultThrottleFree = 5
	DefaultThrottleBase = time.Second
	DefaultThrottleMax  = 15 * time.Minute
)

// WithDefaults fills zero fields with the defaults.
func (p ThrottlePolicy) WithDefaults() ThrottlePolicy {
	if p.Free == 0 {
		p.Free = DefaultThrottleFree
	}
	if p.Base == 0 {
		p.Base = DefaultThrottleBase
	}
	if p.Max == 0 {
		p.Max = DefaultThrottleMax
	}
	return p
}

// Validate names the bad field.
func (p ThrottlePolicy) Validate() error {
	switch {
	case p.Free < 1 || p.Free > 1000:
		return fmt.Errorf("login-throttle-free %d: want 1 to 1000", p.Free)
	case p.Base < time.Millisecond:
		return fmt.Errorf("login-throttle-base %s: at least 1ms", p.Base)
	case p.Max < p.Base || p.Max > 24*time.Hour:
		return fmt.Errorf("login-throttle-max %s: between the base delay and 24h", p.Max)
	}
	return nil
}

// Delay is the wait imposed after the n-th counted attempt (n from 1): none up to Free-1, Base
// after the Free-th, doubling from there, at most Max.
func (p ThrottlePolicy) Delay(n int64) time.Duration {
	if n < int64(p.Free) {
		return 0
	}
	d := p.Base
	for i := int64(p.Free); i < n && d < p.Max; i++ {
		d *= 2
	}
	return min(d, p.Max)
}

// Steps lists the delays up to the cap: Steps()[i] is Delay(Free+i); every later attempt waits
// Max. Stores turn it into one SQL CASE so that admission is a single statement.
func (p ThrottlePolicy) Steps() []time.Duration {
	var out []time.Duration
	for n := int64(p.Free); ; n++ {
		d := p.Delay(n)
		out = append(out, d)
		if d >= p.Max {
			return out
		}
	}
}

// throttleKey is the count of attempts on an email: the hex SHA-256 of the normalized address,
// the same for known and unknown accounts (AN-01, RL-08).
func throttleKey(email string) string { return hashID("email:" + NormalizeEmail(email)) }

// Device cookies (OWASP "Slow Down Online Guessing Attacks with Device Cookies"): a browser that
// signed in to an account gets a signed cookie naming it. Its attempts on that account are
// counted under the cookie, apart from the account's count, so an attacker who keeps the account
// throttled does not lock its owner out.
//
// A cookie is a private bucket of guesses, so it must not be something an attacker can collect
// (RL-05): it is minted only after a complete sign-in (right password, enabled account, confirmed
// address) or a used reset link, and it is bound to the account's current credentials: its
// value is nonce~sig~bind, where sig is an expiring MAC over the nonce and the normalized email
// (checked before the account is loaded, so that the throttle key of an unknown address is
// derived exactly as before and no lookup happens without a cookie minted for that address), and
// bind is a MAC over the nonce, the user ID and a digest of the current password hash (checked
// once the account is loaded). A password reset or change, or a rehash with new parameters,
// changes the hash and so voids every device cookie minted before: their attempts count against
// the account again.
const (
	deviceCookie   = "gatehouse_device"
	deviceLifespan = 180 * 24 * time.Hour
)

// deviceCookieFor is the parsed device cookie of a browser, minted for one address.
type deviceCookieFor struct{ nonce, bind string }

// deviceFor returns the browser's device cookie when it was minted for email (its expiring MAC
// over the nonce and the normalized address is valid). It says nothing about the account yet:
// boundTo checks the cookie against the account's current credentials.
func (s *Server) deviceFor(r *http.Request, email string) (deviceCookieFor, bool) {
	c, err := r.Cookie(s.cookieName(deviceCookie))
	if err != nil || len(c.Value) > 256 {
		return deviceCookieFor{}, false
	}
	nonce, rest, ok := strings.Cut(c.Value, "~")
	if !ok || nonce == "" {
		return deviceCookieFor{}, false
	}
	sig, bind, ok := strings.Cut(rest, "~")
	if !ok || bind == "" || !s.verify(sig, "device", nonce, NormalizeEmail(email)) {
		return deviceCookieFor{}, false
	}
	return deviceCookieFor{nonce: nonce, bind: bind}, true
}

// boundTo reports whether the cookie was minted for u with u's current password hash.
func (s *Server) boundTo(d deviceCookieFor, u *User) bool {
	if u == nil || u.Disabled {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(d.bind)
	return err == nil && hmac.Equal(got, s.deviceBinding(d.nonce, u))
}

// key is the throttle key of the cookie's own count.
func (d deviceCookieFor) key() string { return hashID("device:" + d.nonce) }

// deviceBinding is the MAC that ties a device cookie to the account's current credentials.
func (s *Server) deviceBinding(nonce string, u *User) []byte {
	return s.mac("", "device-credentials", nonce, u.ID, hashID("password:"+u.PasswordHash))
}

// deviceKey returns the throttle key of the browser's device cookie for the loaded account u,
// or "" when the browser has no valid cookie for it (none, another account's, or one minted
// before the password last changed).
func (s *Server) deviceKey(r *http.Request, u *User) string {
	d, ok := s.deviceFor(r, u.Email)
	if !ok || !s.boundTo(d, u) {
		return ""
	}
	return d.key()
}

// setDeviceCookie gives the browser a device cookie for the account it just signed in to, bound
// to u's current password hash: call it only after a complete sign-in (or a used reset link),
// with u holding the hash now stored.
func (s *Server) setDeviceCookie(w http.ResponseWriter, u *User) {
	nonce := randomToken(16)
	v := nonce + "~" + s.sign(deviceLifespan, "device", nonce, NormalizeEmail(u.Email)) + "~" + b64(s.deviceBinding(nonce, u))
	s.setCookie(w, deviceCookie, v, deviceLifespan, http.SameSiteLaxMode)
}

// retryAfter formats the seconds until t for Retry-After, at least 1.
func retryAfter(t time.Time) (int64, string) {
	n := max(int64(time.Until(t)/time.Second)+1, 1)
	return n, strconv.FormatInt(n, 10)
}
