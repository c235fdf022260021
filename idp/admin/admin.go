package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/policies"
)

// Prefix is where the admin API lives; cmd/gatehouse mounts the Server at Prefix+"/".
const Prefix = "/admin/v1"

// Scope is the scope an access token needs for any admin request.
const Scope = "gatehouse:admin"

// DefaultMaxBodyBytes caps a request body when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// MaxBatch is the most rules one batch may add plus remove.
const MaxBatch = 1000

// Tokens validates the provider's own access tokens; *idp.Server implements it. An error that
// is idp.ErrInvalidAccessToken is the caller's (401); any other means it cannot tell now (503).
type Tokens interface {
	IntrospectAccessToken(ctx context.Context, token string) (idp.TokenInfo, error)
}

// Authorizer decides admin requests on the current policy; *policies.Enforcer implements it.
type Authorizer interface {
	// Refresh moves to the latest revision (rev 0: whatever it is).
	Refresh(ctx context.Context, rev int64) error
	// Check decides whether sub may do act on obj.
	Check(sub, obj, act string) (policies.Decision, error)
}

// Config is what the admin API needs, built by cmd/gatehouse.
type Config struct {
	Service    *policies.Service
	Authorizer Authorizer
	Tokens     Tokens
	Log        *slog.Logger
	// MaxBodyBytes caps a request body (413 past it); 0 is DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Realm is the realm of the WWW-Authenticate challenges ("gatehouse" if empty).
	Realm string
	// Secure adds HSTS to the security headers (the issuer is https).
	Secure bool
}

// Server is the admin API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	api     huma.API
	handler http.Handler
}

// New returns the admin API.
func New(cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Authorizer == nil || cfg.Tokens == nil || cfg.Log == nil {
		return nil, errors.New("admin: New needs a policies service, an authorizer, a token validator and a logger")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, errors.New("admin: MaxBodyBytes must not be negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Realm == "" {
		cfg.Realm = "gatehouse"
	}
	s := &Server{cfg: cfg, log: cfg.Log}
	s.routes()
	return s, nil
}

// ServeHTTP serves the admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// OpenAPI returns the API's OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// routes builds the router. Middleware order, written once: request ID, access log, recover,
// security headers (HD-02) and no-store on everything; then, per operation, guard (token, scope, policy) and huma's body cap
// and validation.
func (s *Server) routes() {
	r := chi.NewRouter()
	r.Use(web.RequestID, web.AccessLog(s.log), web.Recover(s.log), web.SecurityHeaders(s.cfg.Secure), noStore)
	config := huma.DefaultConfig("Gatehouse admin API", "1.0.0")
	config.CreateHooks = nil
	config.SchemasPath = ""
	config.DocsPath = ""
	config.OpenAPIPath = Prefix + "/openapi"
	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", Description: "an access token of this provider with scope " + Scope},
	}
	s.api = humachi.New(r, config)
	s.register()
	s.handler = r
}

// op is an operation of the admin API with its guard.
func (s *Server) op(id, method, path, summary string, status int, errs ...int) huma.Operation {
	errs = append([]int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}, errs...)
	if method != http.MethodGet {
		errs = append(errs, http.StatusRequestEntityTooLarge)
	}
	return huma.Operation{
		OperationID:   id,
		Method:        method,
		Path:          Prefix + path,
		Summary:       summary,
		Tags:          []string{strings.Split(path, "/")[1]},
		Middlewares:   huma.Middlewares{s.guard},
		MaxBodyBytes:  s.cfg.MaxBodyBytes,
		DefaultStatus: status,
		Security:      []map[string][]string{{"bearer": {Scope}}},
		Errors:        errs,
	}
}

type callerKey struct{}

// actor is the subject of the authenticated caller, which guard put in the context: the
// revision's actor of every change.
func actor(ctx context.Context) string {
	a, _ := ctx.Value(callerKey{}).(string)
	return a
}

// guard authenticates and authorizes every operation (see the package comment).
func (s *Server) guard(ctx huma.Context, next func(huma.Context)) {
	c := ctx.Context()
	auth := ctx.Header("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	switch {
	case auth == "":
		// RFC 6750 §3.1: no error code when the request carried no credentials.
		s.challenge(ctx, http.StatusUnauthorized, "", "an access token with scope "+Scope+" is required")
		return
	case !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" || strings.Contains(token, ","):
		s.challenge(ctx, http.StatusUnauthorized, "invalid_request", "the Authorization header must be \"Bearer <access token>\"")
		return
	}
	info, err := s.cfg.Tokens.IntrospectAccessToken(c, strings.TrimSpace(token))
	if errors.Is(err, idp.ErrInvalidAccessToken) {
		s.challenge(ctx, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
		return
	}
	if err != nil {
		s.unavailable(ctx, "admin: token check failed", err)
		return
	}
	// The token must be meant for the provider alone (RFC 8707, RS-04): a token that also names a
	// resource server is seen by that server, which could replay it here.
	if info.Issuer == "" || len(info.Audience) != 1 || info.Audience[0] != info.Issuer {
		s.challenge(ctx, http.StatusUnauthorized, "invalid_token", "the access token's audience must be this provider ("+info.Issuer+") alone")
		return
	}
	if !slices.Contains(info.Scopes, Scope) {
		s.challenge(ctx, http.StatusForbidden, "insufficient_scope", "the access token lacks the scope "+Scope)
		return
	}
	subject := policies.UserSubject(info.Subject)
	if info.Client {
		subject = policies.ClientSubject(info.ClientID)
	}
	object, action := objectOf(ctx), ctx.Method()
	if err := s.cfg.Authorizer.Refresh(c, 0); err != nil {
		s.unavailable(ctx, "admin: policy refresh failed", err)
		return
	}
	d, err := s.cfg.Authorizer.Check(subject, object, action)
	if errors.Is(err, policies.ErrNonCanonicalPath) {
		_ = huma.WriteErr(s.api, ctx, http.StatusNotFound, "no such admin resource")
		return
	}
	if errors.Is(err, policies.ErrStale) { // cannot decide now: fail closed
		s.unavailable(ctx, "admin: the policy is stale", err)
		return
	}
	if err != nil { // Check denies on every error
		// The subject or action is outside the policy grammar: no rule can allow it.
		s.log.InfoContext(c, "admin: policy refused the request", "subject", subject, "object", object, "action", action, "policy_revision", d.Revision, "err", err)
	}
	ctx.SetHeader("Gatehouse-Policy-Revision", strconv.FormatInt(d.Revision, 10))
	if !d.Allowed {
		s.log.InfoContext(c, "admin: policy denied", "subject", subject, "object", object, "action", action, "policy_revision", d.Revision)
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "the access policy does not allow "+subject+" to "+action+" "+object)
		return
	}
	next(huma.WithValue(ctx, callerKey{}, subject))
}

// challenge answers per RFC 6750 §3 with a problem+json body.
func (s *Server) challenge(ctx huma.Context, status int, code, msg string) {
	v := `Bearer realm="` + s.cfg.Realm + `"`
	if code != "" {
		v += `, error="` + code + `"`
	}
	if code == "insufficient_scope" {
		v += `, scope="` + Scope + `"`
	}
	ctx.SetHeader("WWW-Authenticate", v)
	_ = huma.WriteErr(s.api, ctx, status, msg)
}

// unavailable refuses a request that cannot be decided now: fail closed.
func (s *Server) unavailable(ctx huma.Context, what string, err error) {
	s.log.ErrorContext(ctx.Context(), what, "request_id", web.GetRequestID(ctx.Context()), "err", err)
	ctx.SetHeader("Retry-After", "5")
	_ = huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "the request cannot be authorized now; try again later (request id "+web.GetRequestID(ctx.Context())+")")
}

// objectOf renders the operation's path pattern with the router's parameter values, each one
// escaped as a single segment, so that the path authorized is the path routed (RB-03).
func objectOf(ctx huma.Context) string {
	pattern := ctx.Operation().Path
	var b strings.Builder
	for {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			b.WriteString(pattern)
			return b.String()
		}
		j := strings.IndexByte(pattern[i:], '}')
		if j < 0 {
			b.WriteString(pattern)
			return b.String()
		}
		j += i
		b.WriteString(pattern[:i])
		v := ctx.Param(pattern[i+1 : j])
		switch v {
		case ".", "..", "":
			v = "%2E" // refused by CanonicalPath: 404
		}
		b.WriteString(url.PathEscape(v))
		pattern = pattern[j+1:]
	}
}

func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
