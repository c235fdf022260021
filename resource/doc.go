// Package resource is Gatehouse's resource API: the todo app every feature is proven on. Users own
// todos and categories; a todo has any number of its owner's categories.
//
// resource.go holds the domain types, the errors and the Store contract; sqlstore implements the
// Store on PostgreSQL and SQLite and storetest is the conformance suite every Store must pass.
// The HTTP layer (huma over chi) maps the errors to statuses: ErrNotFound 404, ErrConflict 409,
// ErrPrecondition 412, ErrInvalid 422 naming each field (see ValidationError).
//
// # HTTP contract (server.go, routes.go, todos.go, categories.go)
//
// NewServer serves /api/v1/todos and /api/v1/categories (GET and POST on the collection; GET,
// PATCH, PUT and DELETE on /{id}), the OpenAPI 3.1 document at /openapi.json (and .yaml) and its
// docs at /docs. The docs page is Stoplight Elements served from the binary (docs.go,
// docsassets/) under a CSP that allows scripts, styles and fetches from this origin only
// (styles also inline, which Elements needs). Only /api/v1 is behind the auth middleware given to NewServer; each operation
// then needs a user's token (a client-credentials token, Principal.IsClient, is 403) with
// todos:read for GET or todos:write for the rest (403, WWW-Authenticate error="insufficient_scope").
// A request the middleware let through without a Principal is 401: the API fails closed.
// Challenges come from bearer.Challenge, so a 403 names realm and resource_metadata as the
// middleware's 401 does.
//
// # Policy checks (authz.go)
//
// With Config.Authorizer set, every operation also asks it whether subject (user:<sub>, or
// client:<client_id> for a client-credentials token) may do the method on the object (the
// route's pattern with its parameters filled in from the router's match, each escaped as one
// segment). Deny is 403 problem+json, an Authorizer error 503 with Retry-After (fail closed),
// and responses carry the policy revision in Gatehouse-Policy-Revision; denials are logged at
// info, grants at debug, both with policy_revision. Scopes are checked first, so a delegated
// token does only what both its scopes and its user's policy allow (RB-06). Ordinary routes
// stay owner-scoped in the store whatever the policy allows (RB-07); GET /api/v1/admin/todos
// lists every owner's todos: it needs its own scope todos:admin (todos:read is not enough: an
// admin who lets an app read her todos has not let it read everyone's, review F4), an explicit
// policy grant, and a token the issuer still reports active (Config.RequireActive introspects
// it on every request, RS-09, so a revocation applies at once; 401 when inactive, 503 when the
// issuer cannot answer). Without an Authorizer, or without RequireActive unless
// Config.AdminWithoutIntrospection accepts the delay, it is always 403 (fail closed).
//
// Statuses: 200 read or update, 201 create (Location, ETag), 204 delete; 400 malformed JSON;
// 401 and 403 as above; 404 no such object of this user (another user's object too); 409 a
// category name already taken; 412 If-Match stale, weak or malformed (nothing is written); 413
// a body over Config.MaxBodyBytes (64 KiB); 422 invalid input naming each field in errors[].location
// ("body.title", "query.cursor": a forged or foreign cursor), wrong types and unknown fields
// included; 428 a PATCH, PUT or DELETE without If-Match; 500 "internal error" with the request
// ID, the cause only in the log. Every error is RFC 9457 application/problem+json.
//
// ETags are strong, the object's version in quotes ("3"): a representation is a function of its
// version, and If-Match compares strongly (RFC 9110 §13.1.1). If-Match: * skips the check.
// Lists answer {"items": [...], "next_cursor": "..."} ("" after the last page); the todo list
// takes done, category, due_before, due_after, q, sort (created_at, due_at, title), desc, limit
// (1 to 100, default 50) and cursor. API responses carry Cache-Control: private, no-cache.
//
// Every Store method takes the acting owner explicitly. Another owner's object is ErrNotFound,
// exactly as one that does not exist, so that its existence is never revealed.
package resource
