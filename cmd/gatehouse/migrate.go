package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/migrations"
)

func newMigrateCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "migrate", Short: "Apply or list database migrations"}
	cmd.AddCommand(&cobra.Command{
		Use: "up", Short: "Apply pending migrations", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := database.Open(cmd.Context(), g.database)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := migrations.Up(cmd.Context(), db); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, "migrations applied")
			return nil
		},
	}, &cobra.Command{
		Use: "status", Short: "List migrations and whether each is applied", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := database.Open(cmd.Context(), g.database)
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := migrations.List(cmd.Context(), db)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(e.stdout, st)
			}
			var rows [][]string
			for _, s := range st {
				at := "pending"
				if s.Applied {
					at = s.AppliedAt.UTC().Format(time.RFC3339)
				}
				rows = append(rows, []string{s.Set, strconv.FormatInt(s.Version, 10), s.Name, at})
			}
			return printTable(e.stdout, []string{"SET", "VERSION", "FILE", "APPLIED"}, rows)
		},
	})
	return cmd
}
