// Package migrations holds the SQL schema of every Gatehouse database set, one folder per set and
// dialect (idp/postgres, idp/sqlite, …), embedded in the binary and applied with goose. Each set
// keeps its own version table, so the provider, the resource API and the policies can live in one
// database or in separate ones.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/gatehouse-id/gatehouse/internal/database"
)

//go:embed idp resource policies
var files embed.FS

// Sets lists the migration sets in the order they are applied.
var Sets = []string{"idp", "resource", "policies"}

// Status is one migration of one set.
type Status struct {
	Set       string    `json:"set"`
	Version   int64     `json:"version"`
	Name      string    `json:"name"`
	Applied   bool      `json:"applied"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
}

func provider(db *database.DB, set string) (*goose.Provider, error) {
	sub, err := fs.Sub(files, set+"/"+string(db.Dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations %s/%s: %w", set, db.Dialect, err)
	}
	opts := []goose.ProviderOption{goose.WithTableName("goose_" + set + "_version"), goose.WithDisableGlobalRegistry(true)}
	dialect := goose.DialectSQLite3
	if db.Dialect == database.Postgres {
		dialect = goose.DialectPostgres
		// Instances that start together take turns: a PostgreSQL advisory lock per set, polled
		// every second for up to five minutes.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID(set)), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(dialect, db.DB.DB, sub, opts...)
}

// lockID is the advisory-lock key of a set's migrations.
func lockID(set string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse/migrations/" + set))
	return int64(h.Sum64() &^ (1 << 63))
}

// Up applies every pending migration of the given sets (all sets when none is named).
func Up(ctx context.Context, db *database.DB, sets ...string) error {
	if len(sets) == 0 {
		sets = Sets
	}
	for _, set := range sets {
		p, err := provider(db, set)
		if err != nil {
			return err
		}
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("migrate %s: %w", set, err)
		}
	}
	return nil
}

// List reports every migration of every set and whether it is applied.
func List(ctx context.Context, db *database.DB) ([]Status, error) {
	var out []Status
	for _, set := range Sets {
		p, err := provider(db, set)
		if err != nil {
			return nil, err
		}
		st, err := p.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("migration status %s: %w", set, err)
		}
		for _, s := range st {
			out = append(out, Status{
				Set: set, Version: s.Source.Version, Name: s.Source.Path,
				Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt,
			})
		}
	}
	return out, nil
}
