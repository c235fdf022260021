package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/loginflow"
	"github.com/gatehouse-id/gatehouse/policies"
)

// The scenarios that sign people in, and those on the resource API.

// xffTransport sends every request as coming from one client address, through the
// X-Forwarded-For header that a trusted proxy would set. Each authorize flow is a different
// person, so the per-IP login limit does not measure one address.
type xffTransport struct {
	next http.RoundTripper
	ip   string
}

func (x xffTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("X-Forwarded-For", x.ip)
	return x.next.RoundTrip(req)
}

// randomIP is a random address in 10.0.0.0/8: one person signing in.
func randomIP() string {
	n := rand.N(1 << 24)
	return fmt.Sprintf("10.%d.%d.%d", n>>16, (n>>8)&255, n&255)
}

// floodIPs is how many client addresses login-flood comes from; floodIP(i) is the i-th, in
// 172.16.0.0/12, apart from the authorize flows' addresses.
const floodIPs = 1000

func floodIP(i int) string { return fmt.Sprintf("172.16.%d.%d", i>>8, i&255) }

// benchUsers is how many people the self-contained sign-in scenarios use in turn: one person
// signing in many times at once would only measure the per-account throttle.
const benchUsers = 32

// benchUser creates (once) the people the sign-in scenarios use, all with one password; remote
// mode needs --username (a comma-separated list spreads the sign-ins over those accounts),
// --password and --redirect-uri.
func (t *benchTarget) benchUser(ctx context.Context) error {
	if t.store == nil {
		if len(t.usernames) == 0 || t.password == "" || t.redirectURI == "" {
			return fmt.Errorf("%w: remote mode needs --username, --password and --redirect-uri", errSkip)
		}
		return nil
	}
	if len(t.userIDs) > 0 {
		return nil
	}
	now := time.Now()
	password := idp.GenerateClientSecret() // any long random string
	hash, err := idp.NewPasswordHasher(idp.DefaultArgon2, 1, 1).Hash(ctx, password)
	if err != nil {
		return err
	}
	ch := policies.Change{Comment: "gatehouse bench users"}
	run := uuid.NewString()[:8]
	for i := range benchUsers {
		u := &idp.User{ID: uuid.NewString(), Email: fmt.Sprintf("bench-%s-%d@bench.invalid", run, i), EmailVerified: true,
			Name: "gatehouse bench", PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		if err := t.store.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("create bench user: %w", err)
		}
		t.userIDs = append(t.userIDs, u.ID)
		t.usernames = append(t.usernames, u.Email)
		ch.Add = append(ch.Add, policies.Assigning(policies.UserSubject(u.ID), policies.RoleSubject("user")))
	}
	if _, err := t.policies.svc.Apply(ctx, "cli:bench", ch); err != nil {
		return fmt.Errorf("give the bench users role:user: %w", err)
	}
	t.password = password
	return nil
}

// nextUser is the account of the next sign-in, in turn.
func (t *benchTarget) nextUser() string {
	return t.usernames[t.userTurn.Add(1)%uint64(len(t.usernames))]
}

// appClient returns a third-party confidential client (so the consent page shows) with the
// code and refresh grants and the todos scopes for the resource API. Remote mode uses the
// client of --client-id with --redirect-uri.
func (t *benchTarget) appClient(ctx context.Context) error {
	if err := t.benchUser(ctx); err != nil {
		return err
	}
	if t.store == nil || t.appID != "" {
		return nil
	}
	now := time.Now()
	secret := idp.GenerateClientSecret()
	c := &idp.Client{
		ID: "bench-app-" + uuid.NewString(), Name: "gatehouse bench (third-party app)",
		SecretHash: idp.HashClientSecret([]byte(secret)), TokenEndpointAuthMethod: idp.AuthMethodBasic,
		RedirectURIs: []string{"http://127.0.0.1/bench/app"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		ResponseTypes: []string{"code"}, Scopes: []string{"openid", "offline_access", "todos:read", "todos:write"},
		Audiences: []string{t.resourceURL}, CreatedAt: now, UpdatedAt: now,
	}
	if err := t.createClient(ctx, c); err != nil {
		return err
	}
	t.appID, t.appSecret = c.ID, secret
	return nil
}

func (t *benchTarget) appConfig() *oauth2.Config {
	redirect := "http://127.0.0.1/bench/app"
	if t.store == nil {
		redirect = t.redirectURI
	}
	return &oauth2.Config{
		ClientID: t.appID, ClientSecret: t.appSecret, RedirectURL: redirect, Scopes: []string{"openid", "todos:read", "todos:write"},
		Endpoint: oauth2.Endpoint{AuthURL: t.issuer + "/oauth2/authorize", TokenURL: t.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
}

// flowError is a step of a flow that answered with an error status.
type flowError struct {
	code int
	body string
}

func (e *flowError) Error() string { return fmt.Sprintf("status %d: %s", e.code, e.body) }

// signIn runs one whole code + PKCE flow as a new browser from a new address: authorize, login
// form, consent (when shown), code exchange.
func (t *benchTarget) signIn(ctx context.Context, next http.RoundTripper, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	b := loginflow.New(t.issuer, xffTransport{next: next, ip: randomIP()})
	return t.signInAs(ctx, b, t.nextUser(), next, opts...)
}

// signInAs runs the flow in browser b as the account email.
func (t *benchTarget) signInAs(ctx context.Context, b *loginflow.Browser, email string, next http.RoundTripper, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	cfg := t.appConfig()
	verifier, state := oauth2.GenerateVerifier(), uuid.NewString()
	opts = append(opts, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", uuid.NewString()))
	loc, err := b.Authorize(ctx, cfg.AuthCodeURL(state, opts...), email, t.password)
	if se := (*loginflow.StatusError)(nil); errors.As(err, &se) {
		return nil, &flowError{code: se.Code, body: se.Path + ": " + se.Body}
	}
	if err != nil {
		return nil, err
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" || q.Get("state") != state || q.Get("code") == "" {
		return nil, &flowError{code: http.StatusBadRequest, body: fmt.Sprintf("authorize redirected to %s", loc.Redacted())}
	}
	xctx := context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: next, Timeout: t.timeout})
	tok, err := cfg.Exchange(xctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if re := (*oauth2.RetrieveError)(nil); errors.As(err, &re) && re.Response != nil {
		return nil, &flowError{code: re.Response.StatusCode, body: "code exchange: " + trimBody(re.Body)}
	}
	return tok, err
}

// person is a virtual user of the authorize scenario: one account in one browser (its cookies,
// its address), as people return to an app from the browser they used before.
type person struct {
	b     *loginflow.Browser
	x     *xffTransport // its address, new for each sign-in: the per-IP limit is not measured here
	email string
}

// people makes (once) a browser per worker, each signed in once so that it holds the device
// cookie a returning browser has; the provider's budget of sign-ins from new browsers
// (GATEHOUSE_PASSWORD_CHECK_RATE) paces this warm-up, which waits out its 503s.
func (t *benchTarget) people(ctx context.Context) (chan *person, error) {
	t.peopleOnce.Do(func() {
		pool := make(chan *person, t.concurrency)
		for i := range t.concurrency {
			x := &xffTransport{next: t.transport, ip: randomIP()}
			p := &person{b: loginflow.New(t.issuer, x), x: x, email: t.usernames[i%len(t.usernames)]}
			for attempt := 0; ; attempt++ {
				_, err := t.signInAs(ctx, p.b, p.email, t.transport)
				if fe := (*flowError)(nil); errors.As(err, &fe) && fe.code == http.StatusServiceUnavailable && attempt < 60 {
					select {
					case <-time.After(500 * time.Millisecond):
						continue
					case <-ctx.Done():
						err = ctx.Err()
					}
				}
				if err != nil {
					t.peopleErr = fmt.Errorf("first sign-in of %s: %w", p.email, err)
					return
				}
				break
			}
			pool <- p
		}
		t.pool = pool
	})
	return t.pool, t.peopleErr
}

// flowHeader marks a hit that a plan's transport runs as a whole flow; it never leaves the
// process.
const flowHeader = "X-Gatehouse-Bench-Flow"

// setupAuthorize counts one whole sign-in (about five HTTP exchanges and one password hash) as
// one hit, so REQ/S is flows per second and the latencies are a flow's. Each hit takes a free
// person, who signs in again (prompt=login: the password is checked every time) and consents
// again (prompt=consent).
func setupAuthorize(ctx context.Context, t *benchTarget) (plan, error) {
	if err := t.appClient(ctx); err != nil {
		return plan{}, err
	}
	pool, err := t.people(ctx)
	if err != nil {
		return plan{}, err
	}
	return plan{
		targeter: vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: t.issuer + "/oauth2/authorize",
			Header: http.Header{flowHeader: {"authorize"}}}),
		wrap: func(next http.RoundTripper) http.RoundTripper {
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				var p *person
				select {
				case p = <-pool:
				case <-req.Context().Done():
					return nil, req.Context().Err()
				}
				defer func() { pool <- p }()
				p.x.ip = randomIP()
				_, err := t.signInAs(req.Context(), p.b, p.email, next, oauth2.SetAuthURLParam("prompt", "login consent"))
				if fe := (*flowError)(nil); errors.As(err, &fe) {
					return synthResponse(req, fe.code, fe.body), nil
				}
				if err != nil {
					return nil, err
				}
				return synthResponse(req, http.StatusOK, ""), nil
			})
		},
	}, nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// synthResponse stands for a whole flow's outcome.
func synthResponse(req *http.Request, code int, body string) *http.Response {
	return &http.Response{
		StatusCode: code, Status: strconv.Itoa(code) + " " + http.StatusText(code), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req,
	}
}

// resourceState is what the resource scenarios share: a user's token and their todos.
type resourceState struct {
	once  sync.Once
	err   error
	token string
	ids   []string
}

// seedTodos is how many todos resource-read reads in turn.
const seedTodos = 50

// resource signs the bench user in to the app once and creates the todos resource-read reads.
func (t *benchTarget) resource(ctx context.Context) (*resourceState, error) {
	if t.resourceURL == "" {
		return nil, fmt.Errorf("%w: remote mode needs --resource-url", errSkip)
	}
	if err := t.appClient(ctx); err != nil {
		return nil, err
	}
	rs := &t.rs
	rs.once.Do(func() {
		tok, err := t.signIn(ctx, t.transport)
		if err != nil {
			rs.err = fmt.Errorf("sign in for a resource token: %w", err)
			return
		}
		rs.token = tok.AccessToken
		client := &http.Client{Transport: t.transport, Timeout: t.timeout}
		for i := range seedTodos {
			var todo struct {
				ID string `json:"id"`
			}
			body := fmt.Sprintf(`{"title":"bench todo %d","notes":"seeded by gatehouse bench"}`, i)
			if err := t.resourceDo(ctx, client, http.MethodPost, "/api/v1/todos", body, &todo); err != nil {
				rs.err = fmt.Errorf("seed todos: %w", err)
				return
			}
			rs.ids = append(rs.ids, todo.ID)
		}
	})
	return rs, rs.err
}

func (t *benchTarget) resourceDo(ctx context.Context, client *http.Client, method, path, body string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, t.resourceURL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = t.resourceHeader()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, trimBody(b))
	}
	return json.Unmarshal(b, v)
}

func (t *benchTarget) resourceHeader() http.Header {
	return http.Header{"Authorization": {"Bearer " + t.rs.token}, "Content-Type": {"application/json"}, "Accept": {"application/json"}}
}

func setupResourceRead(ctx context.Context, t *benchTarget) (plan, error) {
	rs, err := t.resource(ctx)
	if err != nil {
		return plan{}, err
	}
	h := t.resourceHeader()
	h.Del("Content-Type")
	targets := make([]vegeta.Target, 0, len(rs.ids)+1)
	for _, id := range rs.ids {
		targets = append(targets, vegeta.Target{Method: http.MethodGet, URL: t.resourceURL + "/api/v1/todos/" + url.PathEscape(id), Header: h})
	}
	list := vegeta.Target{Method: http.MethodGet, URL: t.resourceURL + "/api/v1/todos?limit=20", Header: h}
	var next atomic.Uint64
	return plan{targeter: func(tgt *vegeta.Target) error {
		n := next.Add(1)
		if n%5 == 0 {
			*tgt = list
		} else {
			*tgt = targets[n%uint64(len(targets))]
		}
		return nil
	}}, nil
}

func setupResourceWrite(ctx context.Context, t *benchTarget) (plan, error) {
	if _, err := t.resource(ctx); err != nil {
		return plan{}, err
	}
	h := t.resourceHeader()
	var next atomic.Uint64
	return plan{targeter: func(tgt *vegeta.Target) error {
		*tgt = vegeta.Target{Method: http.MethodPost, URL: t.resourceURL + "/api/v1/todos", Header: h,
			Body: fmt.Appendf(nil, `{"title":"bench write %d","done":false}`, next.Add(1))}
		return nil
	}}, nil
}

// floodForms is how many login forms (each with its CSRF cookie) login-flood replays.
const floodForms = 16

// setupLoginFlood opens the login page a few times (each a form with its CSRF cookie) and
// replays the forms with wrong passwords for unknown emails, each request from one of
// floodIPs addresses. A well-defended provider answers 401 (a password was checked), 429 (an
// address or account is over its limit) or 503 (the password hasher is saturated): all are
// expected; anything else is an error.
func setupLoginFlood(ctx context.Context, t *benchTarget) (plan, error) {
	if err := t.appClient(ctx); err != nil {
		return plan{}, err
	}
	issuerURL, err := url.Parse(t.issuer)
	if err != nil {
		return plan{}, err
	}
	type form struct {
		values url.Values
		cookie string
	}
	forms := make([]form, floodForms)
	for i := range forms {
		b := loginflow.New(t.issuer, t.transport)
		v, err := b.LoginForm(ctx, t.appConfig().AuthCodeURL(uuid.NewString(),
			oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("nonce", uuid.NewString())))
		if err != nil {
			return plan{}, fmt.Errorf("open the login form: %w", err)
		}
		var cookies []string
		for _, c := range b.Client.Jar.Cookies(issuerURL) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		forms[i] = form{values: v, cookie: strings.Join(cookies, "; ")}
	}
	var next atomic.Uint64
	return plan{
		accept: []int{http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusServiceUnavailable},
		targeter: func(tgt *vegeta.Target) error {
			n := next.Add(1)
			f := forms[n%floodForms]
			v := url.Values{}
			for k, vs := range f.values {
				v[k] = vs
			}
			v.Set("email", fmt.Sprintf("flood-%d@bench.invalid", n%997))
			v.Set("password", fmt.Sprintf("wrong password %d", n))
			*tgt = vegeta.Target{Method: http.MethodPost, URL: t.issuer + "/login", Body: []byte(v.Encode()), Header: http.Header{
				"Content-Type": {"application/x-www-form-urlencoded"}, "Cookie": {f.cookie},
				"Origin": {t.issuer}, "Sec-Fetch-Site": {"same-origin"}, "X-Forwarded-For": {floodIP(int(n % floodIPs))},
			}}
			return nil
		},
	}, nil
}

// mix is the blend of the mixed scenario, in percent: mostly API reads with tokens, some
// machine tokens and refreshes, a little introspection and writes, and rare interactive
// sign-ins, as a deployment with a busy API behind it sees.
var mix = []struct {
	name   string
	weight int
}{
	{"resource-read", 60}, {"client-credentials", 15}, {"refresh", 10}, {"introspect", 5},
	{"resource-write", 5}, {"jwks", 2}, {"discovery", 2}, {"authorize", 1},
}

func mixHelp() string {
	parts := make([]string, len(mix))
	for i, m := range mix {
		parts[i] = fmt.Sprintf("%s %d%%", m.name, m.weight)
	}
	return strings.Join(parts, ", ")
}

// mixPart carries a mixed hit's part index from the targeter to the dispatching transport.
const mixPart = "X-Gatehouse-Bench-Part"

func setupMixed(ctx context.Context, t *benchTarget) (plan, error) {
	parts := make([]plan, len(mix))
	var schedule []int // 100 slots, part indexes by weight
	for i, m := range mix {
		p, err := findScenario(m.name).setup(ctx, t)
		if err != nil {
			return plan{}, fmt.Errorf("%s: %w", m.name, err)
		}
		parts[i] = p
		for range m.weight {
			schedule = append(schedule, i)
		}
	}
	var next atomic.Uint64
	return plan{
		targeter: func(tgt *vegeta.Target) error {
			// Stride through the slots (37 is prime to 100) so the parts interleave.
			k := schedule[(next.Add(1)*37)%uint64(len(schedule))]
			if err := parts[k].targeter(tgt); err != nil {
				return err
			}
			tgt.Header = tgt.Header.Clone()
			if tgt.Header == nil {
				tgt.Header = http.Header{}
			}
			tgt.Header.Set(mixPart, strconv.Itoa(k))
			return nil
		},
		wrap: func(next http.RoundTripper) http.RoundTripper {
			rts := make([]http.RoundTripper, len(parts))
			for i, p := range parts {
				rts[i] = next
				if p.wrap != nil {
					rts[i] = p.wrap(next)
				}
			}
			return roundTripFunc(func(req *http.Request) (*http.Response, error) {
				k, err := strconv.Atoi(req.Header.Get(mixPart))
				if err != nil || k < 0 || k >= len(rts) {
					return nil, errors.New("bench: mixed request without a part")
				}
				req = req.Clone(req.Context())
				req.Header.Del(mixPart)
				return rts[k].RoundTrip(req)
			})
		},
	}, nil
}
