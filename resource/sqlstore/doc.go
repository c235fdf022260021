// Package sqlstore is resource.Store on PostgreSQL or SQLite through sqlx: one query text per
// operation, written with ? and rebound for PostgreSQL. The schema is the "resource" migration
// set (migrations/resource).
//
// Lists are keyset-paginated. A cursor is opaque to clients and tamper-proof:
//
//	base64url(JSON payload) "." base64url(HMAC-SHA256(key, "gatehouse-cursor\x00" kind "\x00" owner "\x00" payload))
//
// where the payload holds the sort key and direction, the last row's sort value and its id. The
// MAC binds a cursor to its list (todos or categories) and to its owner, so a forged, truncated
// or foreign cursor, or one minted under another key, is resource.ErrInvalid before any SQL runs.
// Only the sort key's name travels in the cursor; the column comes from a fixed allowlist.
//
// A page of todos costs two queries whatever its size: the todos, then all of their category ids
// in one WHERE todo_id IN (…) query.
package sqlstore
