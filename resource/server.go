package resource

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

// The scopes of the API. ScopeAdmin opens only the cross-owner admin routes (with a policy
// grant, and introspection: Config.RequireActive); todos:read does not (RB-06, review F4): a user
// who is an admin and lets an app "read my todos" does not let it read everyone's. Register it
// only on first-party or otherwise trusted clients.
const (
	ScopeRead  = "todos:read"
	ScopeWrite = "todos:write"
	ScopeAdmin = "todos:admin"
)

// Scopes lists every scope of the API, for the protected resource metadata's scopes_supported
// (RFC 9728).
func Scopes() []string { return []string{ScopeRead, ScopeWrite, ScopeAdmin} }

// Server is the todos API over HTTP: huma operations on a chi router. It serves /api/v1/todos,
// /api/v1/categories, the OpenAPI 3.1 document at /openapi.json and its rendered docs at /docs.
type Server struct {
	cfg     Config
	st      Store
	auth    func(http.Handler) http.Handler
	log     *slog.Logger
	api     huma.API
	handler http.Handler
}

// NewServer returns the API over st. auth is the bearer middleware (bearer.Verifier.Middleware
// in production): it must answer requests without a valid token itself and put a
// *bearer.Principal in the context of the others (bearer.NewContext). It wraps only /api/v1;
// the OpenAPI document and the docs are public. Scopes and the user are checked here.
func NewServer(cfg Config, st Store, auth func(http.Handler) http.Handler, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st == nil || auth == nil || log == nil {
		return nil, errors.New("resource: NewServer needs a store, an auth middleware and a logger")
	}
	s := &Server{cfg: cfg.withDefaults(), st: st, auth: auth, log: log}
	s.routes()
	return s, nil
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// OpenAPI returns the API's OpenAPI document.
func (s *Server) OpenAPI() *huma.OpenAPI { return s.api.OpenAPI() }

// owner returns the acting user; guard has checked there is one.
func owner(ctx context.Context) string {
	p, _ := bearer.FromContext(ctx)
	return p.Subject
}

// problem is the one error responder of the API: it maps an error of the Store (or of the
// handlers) to a problem+json status through one table. Unknown errors are logged with the
// request ID and answered 500 "internal error" with that ID, never the cause.
func (s *Server) problem(ctx context.Context, what string, err error) error {
	var se huma.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.Is(err, ErrInvalid):
		var details []error
		for _, v := range ValidationErrors(err) {
			loc := "body." + v.Field
			if v.Field == "cursor" {
				loc = "query.cursor"
			}
			details = append(details, &huma.ErrorDetail{Message: v.Message, Location: loc})
		}
		return huma.Error422UnprocessableEntity("validation failed", details...)
	case errors.Is(err, ErrNotFound):
		return huma.Error404NotFound(what + " not found")
	case errors.Is(err, ErrPrecondition):
		return huma.Error412PreconditionFailed("the " + what + " has changed: If-Match does not match its current ETag")
	case errors.Is(err, ErrConflict):
		return huma.Error409Conflict("a " + what + " with this name already exists")
	}
	id := web.GetRequestID(ctx)
	s.log.ErrorContext(ctx, "resource: request failed", "request_id", id, "err", err)
	return huma.Error500InternalServerError("internal error (request id " + id + ")")
}

// etag returns the strong ETag of a version: "<version>". It is strong because an object's JSON
// representation is a function of its version, and If-Match compares strongly (RFC 9110 §13.1.1).
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifVersion turns an If-Match header into the version the Store must find. A missing header is
// 428 (every write must say what it read, so no update is lost); "*" is AnyVersion; a weak, a
// malformed or a list of ETags never matches under strong comparison and is 412.
func ifVersion(header, what string) (int64, error) {
	header = strings.TrimSpace(header)
	switch {
	case header == "":
		return 0, huma.NewError(http.StatusPreconditionRequired, "If-Match is required: send the ETag of the "+what+" you read")
	case header == "*":
		return AnyVersion, nil
	}
	if len(header) < 3 || header[0] != '"' || header[len(header)-1] != '"' {
		return 0, huma.Error412PreconditionFailed("If-Match does not match the " + what + "'s current ETag")
	}
	v, err := strconv.ParseInt(header[1:len(header)-1], 10, 64)
	if err != nil || v < 1 {
		return 0, huma.Error412PreconditionFailed("If-Match does not match the " + what + "'s current ETag")
	}
	return v, nil
}
