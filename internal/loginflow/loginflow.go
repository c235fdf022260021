// Package loginflow signs in through the provider's hosted pages over plain HTTP, as a person's
// browser would: it follows an authorization URL through /login and /consent (allowing) with a
// cookie jar and stops at the redirect back to the client. `gatehouse bench` uses it to start
// refresh-token chains, and the end-to-end tests to get user tokens, so both drive the real pages
// rather than a shortcut into storage.
package loginflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Browser is an HTTP client with cookies that follows redirects within the issuer only.
type Browser struct {
	Issuer string
	Client *http.Client
}

// New returns a Browser for the provider at issuer; transport may be nil.
func New(issuer string, transport http.RoundTripper) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Issuer: issuer, Client: &http.Client{
		Jar: jar, Transport: transport, Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if !strings.HasPrefix(req.URL.String(), issuer) {
				return http.ErrUseLastResponse // the redirect to the client: stop and report it
			}
			return nil
		},
	}}
}

var (
	csrfField    = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	hiddenField  = regexp.MustCompile(`name="(return_to|challenge)" value="([^"]*)"`)
	htmlEntities = strings.NewReplacer("&amp;", "&", "&#43;", "+", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`)
)

// Authorize follows authURL through the login page (with email and password) and the consent
// page (allowing) and returns the redirect to the client, which carries a code or an error.
func (b *Browser) Authorize(ctx context.Context, authURL, email, password string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, err
	}
	for range 4 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			return url.Parse(loc)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, &StatusError{Code: resp.StatusCode, Path: resp.Request.URL.Path, Body: Trim(body)}
		}
		page := string(body)
		form := hiddenFields(page)
		var action string
		switch {
		case strings.Contains(page, `action="/login"`):
			action = "/login"
			form.Set("email", email)
			form.Set("password", password)
		case strings.Contains(page, `action="/consent"`):
			action = "/consent"
			form.Set("decision", "allow")
		default:
			return nil, fmt.Errorf("unexpected page at %s: %s", resp.Request.URL.Path, Trim(body))
		}
		if resp, err = b.Post(ctx, action, form); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("too many pages before the redirect")
}

// LoginForm opens authURL without signing in and returns the login form's hidden fields
// (csrf_token, return_to); the CSRF cookie stays in the Browser's jar. `gatehouse bench
// login-flood` replays the form with wrong passwords.
func (b *Browser) LoginForm(ctx context.Context, authURL string) (url.Values, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.Client.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `action="/login"`) {
		return nil, &StatusError{Code: resp.StatusCode, Path: resp.Request.URL.Path, Body: Trim(body)}
	}
	return hiddenFields(page), nil
}

// hiddenFields are a page form's csrf_token, return_to and challenge.
func hiddenFields(page string) url.Values {
	form := url.Values{}
	if m := csrfField.FindStringSubmatch(page); m != nil {
		form.Set("csrf_token", htmlEntities.Replace(m[1]))
	}
	for _, m := range hiddenField.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], htmlEntities.Replace(m[2]))
	}
	return form
}

// StatusError is a page that answered other than 200 or a redirect.
type StatusError struct {
	Code int
	Path string
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d at %s: %s", e.Code, e.Path, e.Body)
}

// Post submits a form to one of the provider's pages as a same-origin browser form would.
func (b *Browser) Post(ctx context.Context, path string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Issuer)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.Client.Do(req)
}

// Trim shortens a response body for an error message.
func Trim(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}
