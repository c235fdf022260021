package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// RequireActive returns middleware, placed after Middleware, for routes that must see a
// revocation at once (RS-09): it asks the issuer's introspection_endpoint (RFC 7662) whether the
// token is still active, authenticating with Config.Introspection over HTTP Basic. An inactive
// token gets 401 invalid_token; an unreachable issuer gets 503 (fail closed). It costs one
// round trip per request, so use it only where offline verification is not enough.
//
// RequireActive panics if Config.Introspection is nil: that is a wiring mistake.
func (v *Verifier) RequireActive(next http.Handler) http.Handler {
	if v.cfg.Introspection == nil {
		panic("bearer: RequireActive needs Config.Introspection")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := r.Context().Value(stateKey{}).(*state)
		token := ""
		if st != nil {
			token = st.token
		}
		if token == "" { // Middleware is missing: fail closed
			v.fail(w, http.StatusUnauthorized, "", "", "")
			return
		}
		switch err := v.introspect(r.Context(), token); {
		case err == nil:
			next.ServeHTTP(w, r)
		case errors.Is(err, errInactive):
			v.fail(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid", "")
		default:
			v.log.WarnContext(r.Context(), "bearer: introspection failed", "err", err)
			w.Header().Set("Retry-After", "5")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
		}
	})
}

// introspect returns nil for an active token, errInactive for an inactive one, and another
// error when the issuer cannot say.
func (v *Verifier) introspect(ctx context.Context, token string) error {
	m := v.meta.Load()
	if m == nil {
		v.mu.Lock()
		if v.meta.Load() == nil {
			// Bounded like every fetch: the lock is held meanwhile.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
			if md, err := v.discover(dctx); err == nil {
				v.meta.Store(md)
			}
			cancel()
		}
		v.mu.Unlock()
		if m = v.meta.Load(); m == nil {
			return fmt.Errorf("no issuer metadata")
		}
	}
	if m.IntrospectionEndpoint == "" {
		return fmt.Errorf("issuer has no introspection_endpoint")
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.IntrospectionEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic encoding.
	req.SetBasicAuth(url.QueryEscape(v.cfg.Introspection.ClientID), url.QueryEscape(v.cfg.Introspection.ClientSecret))
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("introspection: status %d", resp.StatusCode)
	}
	var out struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentSize)).Decode(&out); err != nil {
		return fmt.Errorf("introspection: %w", err)
	}
	if !out.Active {
		return errInactive
	}
	return nil
}
