package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/internal/database"
	"github.com/gatehouse-id/gatehouse/migrations"
)

// env is what a command may read from its process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// globals are the flags every command shares.
type globals struct {
	database string
	output   string
	secret   string
	// policyDatabase is the access policy's database; empty: database.
	policyDatabase string
}

func newRootCmd(e *env) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: an OAuth 2.0 and OpenID Connect provider",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := bindEnv(cmd, e.getenv); err != nil {
				return err
			}
			if g.output != "table" && g.output != "json" {
				return fmt.Errorf("--output %q: want table or json", g.output)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.database, "database", database.DefaultURL, "database URL: sqlite:PATH or postgres://… (GATEHOUSE_DATABASE)")
	pf.StringVar(&g.policyDatabase, "policy-database-url", "", "database of the access policy, written by the admin API and the CLI and read by every instance (GATEHOUSE_POLICY_DATABASE_URL); default: --database")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table or json")
	pf.StringVar(&g.secret, "secret", "", "server secrets, comma-separated, newest first, each at least 32 bytes (GATEHOUSE_SECRET); default: a generated file beside a SQLite database")
	root.AddCommand(newServeCmd(e, g), newMigrateCmd(e, g), newClientsCmd(e, g), newUsersCmd(e, g), newKeysCmd(e, g), newPoliciesCmd(e, g), newRolesCmd(e, g), newBenchCmd(e, g), newVersionCmd(e))
	return root
}

// bindEnv sets every flag the user did not give from GATEHOUSE_<FLAG_NAME>, so each setting is
// both a flag and an environment variable. GATEHOUSE_DATABASE_URL is accepted for --database.
func bindEnv(cmd *cobra.Command, getenv func(string) string) error {
	var errs []error
	visit := func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "GATEHOUSE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(name)
		if v == "" && f.Name == "database" {
			name, v = "GATEHOUSE_DATABASE_URL", getenv("GATEHOUSE_DATABASE_URL")
		}
		if v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return errors.Join(errs...)
}

// openStore opens the database, applies migrations when asked, and returns the store.
func openStore(ctx context.Context, g *globals, migrate bool, opts ...sqlstore.Option) (*database.DB, *sqlstore.Store, error) {
	db, err := database.Open(ctx, g.database)
	if err != nil {
		return nil, nil, err
	}
	if migrate {
		if err := migrations.Up(ctx, db); err != nil {
			db.Close()
			return nil, nil, err
		}
	}
	return db, sqlstore.New(db, opts...), nil
}

// loadSecrets returns the server secrets: --secret / GATEHOUSE_SECRET, or for SQLite a secret
// generated once into a 0600 file beside the database. generated reports the latter.
func loadSecrets(g *globals, db *database.DB, log *slog.Logger) (secrets [][]byte, generated bool, err error) {
	if g.secret != "" {
		for _, s := range strings.Split(g.secret, ",") {
			s = strings.TrimSpace(s)
			if len(s) < idp.MinSecretLength {
				return nil, false, fmt.Errorf("GATEHOUSE_SECRET: every secret must be at least %d bytes (got one of %d)", idp.MinSecretLength, len(s))
			}
			secrets = append(secrets, []byte(s))
		}
		return secrets, false, nil
	}
	if db.Dialect != database.SQLite || db.Path == "" {
		return nil, false, errors.New("GATEHOUSE_SECRET is required with this database (generate one with: head -c 32 /dev/urandom | base64)")
	}
	path := db.Path + ".secret"
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, false, err
		}
		b = []byte(base64.RawURLEncoding.EncodeToString(raw))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, false, fmt.Errorf("write generated secret: %w", err)
		}
		abs, _ := filepath.Abs(path)
		log.Warn("GATEHOUSE_SECRET is not set: generated a secret file; set GATEHOUSE_SECRET in production", "file", abs)
	} else if err != nil {
		return nil, false, fmt.Errorf("read secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < idp.MinSecretLength {
		return nil, false, fmt.Errorf("secret file %s: too short", path)
	}
	return [][]byte{[]byte(s)}, true, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable writes rows under a header, aligned.
func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// newLogger returns the process logger: text on a terminal, JSON otherwise, or as --log-format says.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "auto", "":
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				return slog.New(slog.NewTextHandler(w, opts)), nil
			}
		}
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want auto, text or json", format)
	}
}
