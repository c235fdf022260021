package resource

import (
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-id/gatehouse/internal/web"
)

// apiPrefix is where the operations live; only they are behind the auth middleware.
const apiPrefix = "/api/v1"

// routes builds the router. Middleware order, written once: request ID, access log, recover on
// everything; then the auth middleware on /api/v1 only; then, per operation, the scope and user
// check and the Authorizer (guard, authz.go) and huma's own body cap and validation.
func (s *Server) routes() {
	r := chi.NewRouter()
	r.Use(web.RequestID, web.AccessLog(s.log), web.Recover(s.log))
	var protected chi.Router
	r.Group(func(g chi.Router) {
		g.Use(s.auth, privateNoCache)
		protected = g
	})

	config := huma.DefaultConfig(s.cfg.Title, s.cfg.Version)
	config.CreateHooks = nil // no $schema links in responses
	config.SchemasPath = ""
	config.OpenAPIPath = "/openapi" // serves /openapi.json and /openapi.yaml
	config.DocsPath = ""            // /docs is served below, with the renderer from the binary (docs.go)
	config.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT (RFC 9068)"},
	}
	docsPage, docsAssets := s.docsHandlers()
	r.Get("/docs", docsPage)
	r.Get("/docs/assets/{name}", docsAssets)
	s.api = huma.NewAPI(config, splitAdapter{
		Adapter:   humachi.NewAdapter(r),
		protected: humachi.NewAdapter(protected),
	})

	// Each route's Authorizer object is its path with the parameters filled in, its action the
	// method (authz.go). read and write are owner-scoped; admin routes cross owners: they need
	// their own scope (todos:admin), a policy grant and a live token (introspection).
	read, write := access{scope: ScopeRead, owned: true}, access{scope: ScopeWrite, owned: true}
	admin := access{scope: ScopeAdmin, admin: true}
	op := func(id, method, path, summary string, a access, status int) huma.Operation {
		errs := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable}
		if method != http.MethodGet {
			errs = append(errs, http.StatusRequestEntityTooLarge)
		}
		if strings.HasSuffix(path, "{id}") && method != http.MethodGet {
			errs = append(errs, http.StatusPreconditionFailed, http.StatusPreconditionRequired)
		}
		if strings.HasPrefix(path, "/categories") && method != http.MethodGet && method != http.MethodDelete {
			errs = append(errs, http.StatusConflict)
		}
		return huma.Operation{
			OperationID:   id,
			Method:        method,
			Path:          apiPrefix + path,
			Summary:       summary,
			Tags:          []string{strings.Split(path, "/")[1]},
			Middlewares:   huma.Middlewares{s.guard(a)},
			MaxBodyBytes:  s.cfg.MaxBodyBytes,
			DefaultStatus: status,
			Security:      []map[string][]string{{"bearer": {a.scope}}},
			Errors:        errs,
		}
	}
	huma.Register(s.api, op("list-todos", http.MethodGet, "/todos", "List todos", read, 0), s.handleTodoList)
	huma.Register(s.api, op("create-todo", http.MethodPost, "/todos", "Create a todo", write, http.StatusCreated), s.handleTodoCreate)
	huma.Register(s.api, op("get-todo", http.MethodGet, "/todos/{id}", "Get a todo", read, 0), s.handleTodoGet)
	huma.Register(s.api, op("patch-todo", http.MethodPatch, "/todos/{id}", "Change fields of a todo", write, 0), s.handleTodoPatch)
	huma.Register(s.api, op("put-todo", http.MethodPut, "/todos/{id}", "Replace a todo", write, 0), s.handleTodoPut)
	huma.Register(s.api, op("delete-todo", http.MethodDelete, "/todos/{id}", "Delete a todo", write, http.StatusNoContent), s.handleTodoDelete)

	huma.Register(s.api, op("list-categories", http.MethodGet, "/categories", "List categories", read, 0), s.handleCategoryList)
	huma.Register(s.api, op("create-category", http.MethodPost, "/categories", "Create a category", write, http.StatusCreated), s.handleCategoryCreate)
	huma.Register(s.api, op("get-category", http.MethodGet, "/categories/{id}", "Get a category", read, 0), s.handleCategoryGet)
	huma.Register(s.api, op("patch-category", http.MethodPatch, "/categories/{id}", "Rename a category", write, 0), s.handleCategoryPatch)
	huma.Register(s.api, op("put-category", http.MethodPut, "/categories/{id}", "Replace a category", write, 0), s.handleCategoryPut)
	huma.Register(s.api, op("delete-category", http.MethodDelete, "/categories/{id}", "Delete a category", write, http.StatusNoContent), s.handleCategoryDelete)

	adminList := op("admin-list-todos", http.MethodGet, "/admin/todos", "List every user's todos (admin)", admin, 0)
	adminList.Description = "Every user's todos in creation order, with their owners. Needs the scope todos:admin " +
		"(todos:read is not enough), a policy that allows GET on /api/v1/admin/todos, and a token the issuer still " +
		"reports active (introspected on every request, so a revocation applies at once). Closed when no access " +
		"policy or no introspection is configured."
	huma.Register(s.api, adminList, s.handleAdminTodoList)

	s.handler = r
}

// splitAdapter registers the operations under /api/v1 on the router behind the auth middleware
// and the rest (the OpenAPI document, the docs) on the public one.
type splitAdapter struct {
	huma.Adapter // the public router; its ServeHTTP serves everything
	protected    huma.Adapter
}

func (a splitAdapter) Handle(op *huma.Operation, handler func(huma.Context)) {
	if strings.HasPrefix(op.Path, apiPrefix+"/") {
		a.protected.Handle(op, handler)
		return
	}
	a.Adapter.Handle(op, handler)
}

// privateNoCache marks every API response as a user's own, to be revalidated before reuse (the
// ETag allows it) and never stored by a shared cache.
func privateNoCache(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, no-cache")
		next.ServeHTTP(w, r)
	})
}
