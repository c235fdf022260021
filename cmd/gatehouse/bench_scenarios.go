package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// scenario is one kind of load. setup provisions what it needs on the target (clients, tokens)
// and returns the plan the attacker runs. Later scenarios (authorize, resource-read, login-flood,
// mixed) join by adding a row to scenarios.
type scenario struct {
	name        string
	description string
	setup       func(ctx context.Context, t *benchTarget) (plan, error)
}

// plan is a prepared scenario: the targeter the workers call concurrently, optionally a wrapper
// of the HTTP transport for scenarios that must read responses (a rotating chain) or run a
// whole flow per hit (authorize), and the non-2xx statuses that are expected outcomes rather
// than errors (login-flood's 401, 429 and 503).
type plan struct {
	targeter vegeta.Targeter
	wrap     func(http.RoundTripper) http.RoundTripper
	accept   []int
}

// expected reports whether a response status is an expected outcome of the plan.
func (p plan) expected(code int) bool { return code/100 == 2 || slices.Contains(p.accept, code) }

// scenarios is filled in init: mixed refers to the others.
var scenarios []scenario

func init() {
	scenarios = []scenario{
		{"client-credentials", "POST /oauth2/token, client_credentials grant, confidential client (a signed JWT per request)", setupClientCredentials},
		{"introspect", "POST /oauth2/introspect of access tokens minted once per worker, by a confidential client", setupIntrospect},
		{"refresh", "POST /oauth2/token, refresh_token grant: each virtual user rotates its own chain, started by a code + PKCE login", setupRefresh},
		{"authorize", "one whole code + PKCE flow per hit, a new browser each time: authorize, login form (argon2id), consent, code exchange", setupAuthorize},
		{"resource-read", "GET /api/v1/todos/{id} (4 in 5) and GET /api/v1/todos?limit=20 (1 in 5) with a user's bearer token", setupResourceRead},
		{"resource-write", "POST /api/v1/todos with a user's bearer token (creates todos)", setupResourceWrite},
		{"login-flood", "POST /login with wrong passwords for unknown emails from 1,000 client addresses (X-Forwarded-For via a trusted proxy); 401, 429 and 503 are expected", setupLoginFlood},
		{"jwks", "GET /.well-known/jwks.json", getTargeter("/.well-known/jwks.json")},
		{"discovery", "GET /.well-known/openid-configuration", getTargeter("/.well-known/openid-configuration")},
		{"mixed", "a blend by weight: " + mixHelp(), setupMixed},
	}
}

func getTargeter(path string) func(context.Context, *benchTarget) (plan, error) {
	return func(_ context.Context, t *benchTarget) (plan, error) {
		return plan{targeter: vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: t.issuer + path})}, nil
	}
}

func formHeader(auth string) http.Header {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {auth}}
}

func ccForm(t *benchTarget) []byte {
	form := url.Values{"grant_type": {"client_credentials"}}
	if t.store != nil {
		form.Set("scope", "todos:read") // the provisioned client's scope; remote: the client's default
	}
	return []byte(form.Encode())
}

func setupClientCredentials(ctx context.Context, t *benchTarget) (plan, error) {
	id, secret, err := t.machineClient(ctx)
	if err != nil {
		return plan{}, err
	}
	return plan{targeter: vegeta.NewStaticTargeter(vegeta.Target{
		Method: http.MethodPost, URL: t.issuer + "/oauth2/token", Body: ccForm(t), Header: formHeader(basicAuth(id, secret)),
	})}, nil
}

// setupIntrospect mints one access token per worker; the workers then introspect them in turn.
func setupIntrospect(ctx context.Context, t *benchTarget) (plan, error) {
	id, secret, err := t.machineClient(ctx)
	if err != nil {
		return plan{}, err
	}
	auth := basicAuth(id, secret)
	client := &http.Client{Transport: t.transport}
	targets := make([]vegeta.Target, t.concurrency)
	for i := range targets {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := postJSON(ctx, client, t.issuer+"/oauth2/token", auth, ccForm(t), &tok); err != nil {
			return plan{}, fmt.Errorf("mint a token to introspect: %w", err)
		}
		targets[i] = vegeta.Target{
			Method: http.MethodPost, URL: t.issuer + "/oauth2/introspect",
			Body: []byte(url.Values{"token": {tok.AccessToken}}.Encode()), Header: formHeader(auth),
		}
	}
	var next atomic.Uint64
	return plan{targeter: func(tgt *vegeta.Target) error {
		*tgt = targets[next.Add(1)%uint64(len(targets))]
		return nil
	}}, nil
}

func postJSON(ctx context.Context, client *http.Client, u, auth string, body []byte, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = formHeader(auth)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, trimBody(b))
	}
	return json.Unmarshal(b, v)
}

// vuHeader carries a virtual user's index from the targeter to the chain transport; it never
// leaves the process.
const vuHeader = "X-Gatehouse-Bench-Vu"

// setupRefresh gives each virtual user (one per worker) its own grant. A VU's requests are
// strictly sequential: the targeter takes a free VU and sends its current refresh token; the
// transport reads the rotated token from the response and frees the VU. A failed request
// leaves the VU on its old token, which the grace period lets it replay.
func setupRefresh(ctx context.Context, t *benchTarget) (plan, error) {
	if err := t.webClient(ctx); err != nil {
		return plan{}, err
	}
	tokens, err := t.refreshTokens(ctx, t.concurrency)
	if err != nil {
		return plan{}, err
	}
	ch := &refreshChains{tokens: tokens, free: make(chan int, len(tokens))}
	for i := range tokens {
		ch.free <- i
	}
	auth := basicAuth(t.webID, t.webSecret)
	return plan{
		targeter: func(tgt *vegeta.Target) error {
			i := <-ch.free
			h := formHeader(auth)
			h.Set(vuHeader, strconv.Itoa(i))
			*tgt = vegeta.Target{Method: http.MethodPost, URL: t.issuer + "/oauth2/token", Header: h,
				Body: []byte(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ch.tokens[i]}}.Encode())}
			return nil
		},
		wrap: func(next http.RoundTripper) http.RoundTripper { ch.next = next; return ch },
	}, nil
}

// refreshChains holds each VU's current refresh token. A VU index is in free exactly when no
// request of it is in flight, so tokens[i] has one user at a time.
type refreshChains struct {
	tokens []string
	free   chan int
	next   http.RoundTripper
}

func (c *refreshChains) RoundTrip(req *http.Request) (*http.Response, error) {
	i, err := strconv.Atoi(req.Header.Get(vuHeader))
	if err != nil || i < 0 || i >= len(c.tokens) {
		return nil, errors.New("bench: refresh request without a virtual user")
	}
	defer func() { c.free <- i }()
	req = req.Clone(req.Context())
	req.Header.Del(vuHeader)
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if resp.StatusCode == http.StatusOK {
		var tok struct {
			RefreshToken string `json:"refresh_token"`
		}
		if json.Unmarshal(body, &tok) == nil && tok.RefreshToken != "" {
			c.tokens[i] = tok.RefreshToken
		}
	}
	return resp, nil
}
