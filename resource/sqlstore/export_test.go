package sqlstore

import "github.com/jmoiron/sqlx"

// WrapReader replaces what the read methods run their queries on, so that tests can count them.
func WrapReader(s *Store, wrap func(sqlx.ExtContext) sqlx.ExtContext) { s.reader = wrap(s.reader) }
