// Package storetest is the conformance suite every resource.Store must pass: Run(t, newStore)
// runs each named test on fresh stores. resource/sqlstore runs it on SQLite and PostgreSQL.
package storetest
