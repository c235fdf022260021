// Package admin is the provider's admin API for the access policy (issue 5), served by huma on
// chi under /admin/v1 with RFC 9457 problem+json errors and an OpenAPI 3.1 document at
// /admin/v1/openapi.json:
//
//	GET  /admin/v1/policies                         the rules, role assignments and revision
//	POST /admin/v1/policies                         an atomic batch {add, remove, comment}
//	GET  /admin/v1/roles                            the role assignments
//	POST /admin/v1/roles                            an atomic batch {assign, unassign, comment}
//	POST /admin/v1/policies/check                   dry run: {subject, object, action}
//	GET  /admin/v1/revisions                        the revisions, newest first, paged
//	GET  /admin/v1/revisions/{rev}                  one revision and its diff
//	POST /admin/v1/revisions/{rev}/restore          restore it, as a new revision
//
// Each route is its own grant: POST /admin/v1/policies takes permission rules only (type p;
// role assignments go through /admin/v1/roles, so a deny on POST /admin/v1/roles stops every
// role change), and the dry run (/admin/v1/policies/check) and the restore
// (/admin/v1/revisions/{rev}/restore) have different prefixes, so "POST /admin/v1/policies/*"
// grants the dry run without the restore.
//
// Every request goes through, in order (guard):
//
//  1. an access token of this provider in the Authorization header (Bearer), live in storage, so
//     a revoked token is refused at once; else 401 with an RFC 6750 challenge;
//  2. an audience of the provider alone: aud = [issuer URL] (what a client with no registered
//     audience gets); a token that names a resource server, which sees it and could replay it,
//     is 401 invalid_token (RS-04, RFC 8707);
//  3. the scope gatehouse:admin; else 403 insufficient_scope;
//  4. a policy permission for the caller (user:<sub>, or client:<id> for a client-credentials
//     token) to do the request's method on its path, decided by the policies Enforcer after it
//     read the latest revision, so a removed admin is refused at once on every instance; else
//     403 (and an enforcer that cannot decide is 503: never let through).
//
// Changes are validated by policies.Service before anything is saved (422 naming each rule and
// why), saved as one revision that records the caller as its actor (the audit trail), and
// serialized, so two admins never lose each other's rules. A caller may change only what it holds
// (policies.Escalation, checked by the Service inside the transaction that writes the change;
// 403 naming each refused rule).
package admin
