package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/policies"
)

type userView struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name,omitempty"`
	Disabled      bool   `json:"disabled"`
	CreatedAt     string `json:"created_at"`
}

func viewUser(u *idp.User) userView {
	return userView{ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC().Format(time.RFC3339)}
}

func newUsersCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users"}
	cmd.AddCommand(newUsersCreateCmd(e, g), newUsersListCmd(e, g), newUsersDisableCmd(e, g))
	return cmd
}

// readPassword reads the password from stdin (--password-stdin) or a terminal prompt, never from
// a flag, so it stays out of shell history and process listings.
func readPassword(e *env, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("--password-stdin: no password on standard input")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to prompt for the password: use --password-stdin")
	}
	fmt.Fprint(e.stderr, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(e.stderr, "Again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	if string(pw) != string(again) {
		return "", errors.New("the passwords differ")
	}
	return string(pw), nil
}

func newUsersCreateCmd(e *env, g *globals) *cobra.Command {
	var email, name string
	var roles []string
	var verified, fromStdin bool
	cmd := &cobra.Command{
		Use: "create", Short: "Create a user", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			email = strings.TrimSpace(email)
			if err := idp.ValidateEmail(email); err != nil {
				return err
			}
			pw, err := readPassword(e, fromStdin)
			if err != nil {
				return err
			}
			if err := idp.ValidatePassword(pw); err != nil {
				return err
			}
			hash, err := idp.NewPasswordHasher(idp.DefaultArgon2, 1, 1).Hash(ctx, pw)
			if err != nil {
				return err
			}
			db, store, err := openStore(ctx, g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			now := time.Now()
			u := &idp.User{ID: uuid.NewString(), Email: email, EmailVerified: verified, Name: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
			if err := store.CreateUser(ctx, u); errors.Is(err, idp.ErrConflict) {
				return fmt.Errorf("a user with email %q already exists", email)
			} else if err != nil {
				return err
			}
			// The roles go in one revision of the access policy, after the user exists: a
			// failure leaves a user without roles (denied by the API), never a role for no one.
			var ch policies.Change
			for _, r := range roles {
				if r = strings.TrimSpace(r); r != "" {
					ch.Add = append(ch.Add, policies.Assigning(policies.UserSubject(u.ID), policies.RoleSubject(strings.TrimPrefix(r, policies.RolePrefix))))
				}
			}
			if len(ch.Add) > 0 {
				ch.Comment = "roles of a new user"
				pdb, err := openPolicyDB(ctx, g.policyDatabase, g.database, db, true)
				if err != nil {
					return fmt.Errorf("created user %s, but assigning its roles failed: %w", u.ID, err)
				}
				if pdb != db {
					defer pdb.Close()
				}
				if _, err := policies.NewService(pdb, nil).Apply(ctx, cliActor(e), ch); err != nil {
					return fmt.Errorf("created user %s, but assigning its roles failed: %w", u.ID, err)
				}
			}
			if g.output == "json" {
				return printJSON(e.stdout, viewUser(u))
			}
			fmt.Fprintf(e.stdout, "created user %s (%s)\n", u.ID, u.Email)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "the user's email, unique case-insensitively (required)")
	f.StringVar(&name, "name", "", "the user's display name")
	f.BoolVar(&verified, "verified", false, "mark the email as verified")
	f.BoolVar(&fromStdin, "password-stdin", false, "read the password from standard input")
	f.StringSliceVar(&roles, "role", []string{"user"}, "roles to assign (repeatable or comma-separated; --role= for none)")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

func newUsersListCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, store, err := openStore(cmd.Context(), g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			users, err := store.ListUsers(cmd.Context())
			if err != nil {
				return err
			}
			views := make([]userView, 0, len(users))
			var rows [][]string
			for _, u := range users {
				v := viewUser(u)
				views = append(views, v)
				rows = append(rows, []string{v.ID, v.Email, strconv.FormatBool(v.EmailVerified), strconv.FormatBool(v.Disabled), v.CreatedAt})
			}
			if g.output == "json" {
				return printJSON(e.stdout, views)
			}
			return printTable(e.stdout, []string{"ID", "EMAIL", "VERIFIED", "DISABLED", "CREATED"}, rows)
		},
	}
}

func newUsersDisableCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "disable USER_ID|EMAIL", Short: "Disable a user, ending their sessions and revoking their tokens (SE-06)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			db, store, err := openStore(ctx, g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			u, err := store.GetUser(ctx, args[0])
			if errors.Is(err, idp.ErrNotFound) {
				u, err = store.GetUserByEmail(ctx, args[0])
			}
			if errors.Is(err, idp.ErrNotFound) {
				return fmt.Errorf("user %q not found", args[0])
			} else if err != nil {
				return err
			}
			if err := store.UpdateUser(ctx, u.ID, func(u *idp.User) error { u.Disabled = true; u.UpdatedAt = time.Now(); return nil }); err != nil {
				return err
			}
			if err := store.DeleteUserLoginSessions(ctx, u.ID); err != nil {
				return err
			}
			if err := store.RevokeSubjectTokens(ctx, u.ID); err != nil {
				return err
			}
			u.Disabled = true
			if g.output == "json" {
				return printJSON(e.stdout, viewUser(u))
			}
			fmt.Fprintf(e.stdout, "disabled user %s (%s)\n", u.ID, u.Email)
			return nil
		},
	}
}
