package resource

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"

	"github.com/gatehouse-id/gatehouse/resource/bearer"
)

// Authorizer decides whether subject may do action on object: the policy check of every API
// route (issue 5). cmd/gatehouse wires it to the Casbin enforcer of package policies; the
// resource API knows only this interface.
//
//   - subject is "user:<sub>" for a user's token and "client:<client_id>" for a
//     client-credentials token (bearer.Principal.IsClient), never a bare name (RB-05, RS-11);
//   - object is the route's path pattern with its parameters filled in from the router's match
//     (so the path checked is the path routed, RB-03), for example /api/v1/todos/0190…;
//   - action is the HTTP method (GET, POST, PATCH, PUT, DELETE).
//
// Authorize must answer Allowed false when no rule allows (default deny, RB-01). An error means
// it cannot decide: the request is refused with 503, never let through.
type Authorizer interface {
	Authorize(ctx context.Context, subject, object, action string) (Decision, error)
}

// Decision is an Authorizer's answer and the policy revision it was made under.
type Decision struct {
	Allowed  bool
	Revision int64
}

// PolicyRevisionHeader carries, on every response the Authorizer decided, the policy revision
// of the decision, so that a client or an operator can tell which policy applied.
const PolicyRevisionHeader = "Gatehouse-Policy-Revision"

// Subject returns the Authorizer subject of a token: client:<client_id> for a
// client-credentials token, else user:<sub>.
func Subject(p *bearer.Principal) string {
	if p.IsClient() {
		return "client:" + p.ClientID
	}
	return "user:" + p.Subject
}

// access is what a route requires besides a valid token.
type access struct {
	scope string // the token must carry it
	// owned: the route serves the caller's own data, so it needs a user's token (todos belong
	// to users); with an Authorizer the policy must allow it too.
	owned bool
	// admin: the route crosses owners; only an explicit policy grant opens it, so without an
	// Authorizer it is always 403.
	admin bool
}

// guard is the huma middleware of every API operation. In order: no Principal is 401 (the auth
// middleware is missing: fail closed); a token without the route's scope is 403
// insufficient_scope (RFC 6750 §3.1); a client-credentials token on an owned route is 403; then
// the Authorizer, if any, must allow subject, object and method: a denial is 403, an error 503
// (fail closed); on an admin route the token must then still be active (requireActive). A delegated token therefore does only what both its scopes and its user's
// roles allow (RB-06), and ordinary routes stay owner-scoped in the store whatever the policy
// says (RB-07).
func (s *Server) guard(a access) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		c := ctx.Context()
		p, ok := bearer.FromContext(c)
		switch {
		case !ok:
			ctx.SetHeader("WWW-Authenticate", bearer.Challenge(c, "", "", ""))
			_ = huma.WriteErr(s.api, ctx, http.StatusUnauthorized, "an access token is required")
			return
		case !p.HasScope(a.scope):
			ctx.SetHeader("WWW-Authenticate", bearer.Challenge(c, "insufficient_scope", "", a.scope))
			_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "the access token lacks the scope "+a.scope)
			return
		case a.owned && (p.IsClient() || p.Subject == ""):
			_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "a user's access token is required: todos belong to users")
			return
		}
		authz := s.cfg.Authorizer
		if authz == nil {
			if a.admin {
				_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "no policy grants this route")
				return
			}
			next(ctx)
			return
		}
		subject, object, action := Subject(p), objectOf(ctx), ctx.Method()
		d, err := authz.Authorize(c, subject, object, action)
		if err != nil {
			s.log.ErrorContext(c, "resource: policy check failed; refusing", "subject", subject, "object", object, "action", action, "err", err)
			ctx.SetHeader("Retry-After", "5")
			_ = huma.WriteErr(s.api, ctx, http.StatusServiceUnavailable, "the access policy cannot be checked now; try again later")
			return
		}
		rev := strconv.FormatInt(d.Revision, 10)
		ctx.SetHeader(PolicyRevisionHeader, rev)
		if !d.Allowed {
			s.log.InfoContext(c, "resource: policy denied", "subject", subject, "object", object, "action", action, "policy_revision", d.Revision)
			_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "the access policy does not allow "+action+" "+object)
			return
		}
		s.log.DebugContext(c, "resource: policy allowed", "subject", subject, "object", object, "action", action, "policy_revision", d.Revision)
		if a.admin {
			s.requireActive(ctx, next)
			return
		}
		next(ctx)
	}
}

// requireActive runs next only if the token is still active at the issuer (RS-09): the admin
// routes read every user's data, so a revocation or a disabled account must apply at once, not
// when the JWT expires. Without Config.RequireActive the route is refused unless the operator
// chose Config.AdminWithoutIntrospection (fail closed).
func (s *Server) requireActive(ctx huma.Context, next func(huma.Context)) {
	if s.cfg.RequireActive == nil {
		if s.cfg.AdminWithoutIntrospection {
			next(ctx)
			return
		}
		_ = huma.WriteErr(s.api, ctx, http.StatusForbidden, "this route needs token introspection, which this server is not configured for")
		return
	}
	r, w := humachi.Unwrap(ctx)
	s.cfg.RequireActive(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { next(ctx) })).ServeHTTP(w, r)
}

// objectOf renders the operation's path pattern with the router's parameter values: the path
// the router matched, normalized. Each value is one path segment, escaped (a "/" cannot appear,
// and "." and ".." are written %2E and %2E%2E), so the object never names another route.
func objectOf(ctx huma.Context) string {
	pattern := ctx.Operation().Path
	if !strings.Contains(pattern, "{") {
		return pattern
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(pattern, '{')
		j := strings.IndexByte(pattern[max(i, 0):], '}')
		if i < 0 || j < 0 {
			b.WriteString(pattern)
			return b.String()
		}
		j += i
		b.WriteString(pattern[:i])
		b.WriteString(segment(ctx.Param(pattern[i+1 : j])))
		pattern = pattern[j+1:]
	}
}

func segment(v string) string {
	switch v {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(v)
}

// Route is one API operation as the Authorizer sees it: Action on objects matching Pattern
// (the path with {param} segments, e.g. /api/v1/todos/{id}).
type Route struct {
	Action  string
	Pattern string
}

// Routes lists every operation behind the auth middleware, so that a policy (or a test of
// default deny, RB-01) can cover each one.
func (s *Server) Routes() []Route {
	var out []Route
	for path, item := range s.api.OpenAPI().Paths {
		if !strings.HasPrefix(path, apiPrefix+"/") {
			continue
		}
		for method, op := range map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete,
		} {
			if op != nil {
				out = append(out, Route{Action: method, Pattern: path})
			}
		}
	}
	slices.SortFunc(out, func(a, b Route) int {
		return cmp.Or(strings.Compare(a.Pattern, b.Pattern), strings.Compare(a.Action, b.Action))
	})
	return out
}
