// Package resource is Gatehouse's resource API: the todo app every feature is proven on. Users own
// todos and categories; a todo has any number of its owner's categories.
//
// resource.go holds the domain types, the errors and the Store contract; sqlstore implements the
// Store on PostgreSQL and SQLite and storetest is the conformance suite every Store must pass.
// The HTTP layer (huma over chi) maps the errors to statuses: ErrNotFound 404, ErrConflict 409,
// ErrPrecondition 412, ErrInvalid 422 naming each field (see ValidationError).
//
// Every Store method takes the acting owner explicitly. Another owner's object is ErrNotFound,
// exactly as one that does not exist, so that its existence is never revealed.
package resource
