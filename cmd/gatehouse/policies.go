package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osuser "os/user"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/sqlstore"
	"github.com/gatehouse-id/gatehouse/policies"
)

// The policies and roles commands work directly on the database, so the first admin can be made
// before anyone can log in. Each change is a policy revision whose actor is "cli:<os user>".

func newPoliciesCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policies", Short: "Manage the Casbin authorization policy (every change is an audited revision)"}
	cmd.AddCommand(newPoliciesListCmd(e, g), newPoliciesChangeCmd(e, g, true), newPoliciesChangeCmd(e, g, false),
		newPoliciesCheckCmd(e, g), newPoliciesRevisionsCmd(e, g), newPoliciesRestoreCmd(e, g),
		newPoliciesExportCmd(e, g), newPoliciesImportCmd(e, g))
	return cmd
}

// openPolicyService opens and migrates the database, and the policy database when it is
// another (GATEHOUSE_POLICY_DATABASE_URL), and returns the store (for looking subjects up) and
// the policy service; closeDBs closes both.
func openPolicyService(ctx context.Context, g *globals) (closeDBs func(), store *sqlstore.Store, svc *policies.Service, err error) {
	db, store, err := openStore(ctx, g, true)
	if err != nil {
		return nil, nil, nil, err
	}
	pdb, err := openPolicyDB(ctx, g.policyDatabase, g.database, db, true)
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return func() {
		if pdb != db {
			pdb.Close()
		}
		db.Close()
	}, store, policies.NewService(pdb, nil), nil
}

// cliActor is who the CLI acts as in the audit trail: cli:<os user>.
func cliActor(e *env) string {
	name := ""
	if u, err := osuser.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = e.getenv("USER")
	}
	if name == "" {
		name = "unknown"
	}
	return "cli:" + name
}

// subjectArg turns a command-line subject into a policy subject: user:<id>, client:<id> and
// role:<name> stay as they are, and an email becomes user:<id> of that user.
func subjectArg(ctx context.Context, store *sqlstore.Store, arg string) (string, error) {
	for _, p := range []string{policies.UserPrefix, policies.ClientPrefix, policies.RolePrefix} {
		if strings.HasPrefix(arg, p) {
			return arg, nil
		}
	}
	if strings.Contains(arg, "@") {
		u, err := store.GetUserByEmail(ctx, arg)
		if errors.Is(err, idp.ErrNotFound) {
			return "", fmt.Errorf("no user with email %q", arg)
		}
		if err != nil {
			return "", err
		}
		return policies.UserSubject(u.ID), nil
	}
	return "", fmt.Errorf("subject %q: want user:<id>, client:<id>, role:<name> or a user's email", arg)
}

// grantSubjectArg is subjectArg for the commands that give SUBJECT something (roles assign,
// policies add of an allow). A user named by email must be enabled: a disabled account is
// refused. One whose address is unconfirmed gets a warning on stderr, since whoever registered
// it has not yet proved the address is theirs (an attacker may have pre-registered it with his
// own password; review F17); its owner confirms it with the verification link, or takes the
// account over with a password reset. Taking things away (unassign, remove) and looking up
// (check, list) use subjectArg, so a disabled user's roles can still be removed by email.
func grantSubjectArg(ctx context.Context, e *env, store *sqlstore.Store, arg string) (string, error) {
	sub, err := subjectArg(ctx, store, arg)
	if err != nil || !strings.Contains(arg, "@") || strings.HasPrefix(arg, policies.UserPrefix) {
		return sub, err
	}
	u, err := store.GetUserByEmail(ctx, arg)
	if err != nil {
		return "", fmt.Errorf("look up %q: %w", arg, err)
	}
	if u.Disabled {
		return "", fmt.Errorf("user %q (%s) is disabled: enable it first, or name it as %s to grant anyway", arg, u.ID, sub)
	}
	if !u.EmailVerified {
		fmt.Fprintf(e.stderr, "warning: %s (%s) has not confirmed the address: whoever registered it may not own it; "+
			"the owner confirms it with the verification link or a password reset\n", arg, sub)
	}
	return sub, nil
}

// roleArg accepts "admin" and "role:admin".
func roleArg(arg string) string {
	if strings.HasPrefix(arg, policies.RolePrefix) {
		return arg
	}
	return policies.RoleSubject(arg)
}

func ruleRows(rules []policies.Rule) [][]string {
	rows := make([][]string, 0, len(rules))
	for _, r := range rules {
		if r.Type == policies.Assignment {
			rows = append(rows, []string{r.Type, r.Subject, r.Role, "", ""})
		} else {
			rows = append(rows, []string{r.Type, r.Subject, r.Object, r.Action, r.Effect})
		}
	}
	return rows
}

func newPoliciesListCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List the rules and role assignments", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			closeDBs, _, svc, err := openPolicyService(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer closeDBs()
			p, err := svc.List(cmd.Context())
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(e.stdout, p)
			}
			fmt.Fprintf(e.stdout, "revision %d\n", p.Revision)
			return printTable(e.stdout, []string{"TYPE", "SUBJECT", "OBJECT/ROLE", "ACTION", "EFFECT"}, ruleRows(append(p.Permissions, p.Assignments...)))
		},
	}
}

// printRevision reports a committed revision.
func printRevision(e *env, g *globals, rev policies.Revision) error {
	if g.output == "json" {
		return printJSON(e.stdout, rev)
	}
	fmt.Fprintf(e.stdout, "revision %d by %s: %d added, %d removed\n", rev.Number, rev.Actor, len(rev.Added), len(rev.Removed))
	return nil
}

// newPoliciesChangeCmd is `policies add` and `policies remove`: one permission from the
// arguments, or any number of rules (p or g lines) with --rule, applied as one atomic revision.
func newPoliciesChangeCmd(e *env, g *globals, add bool) *cobra.Command {
	var effect, comment string
	var lines []string
	use, short := "add", "Add rules (one atomic revision)"
	if !add {
		use, short = "remove", "Remove rules (one atomic revision)"
	}
	cmd := &cobra.Command{
		Use: use + " [SUBJECT OBJECT ACTION]", Short: short,
		Long: short + `.

SUBJECT is user:<id>, client:<id>, role:<name> or a user's email; OBJECT a path pattern such as
/api/v1/todos/:id or /api/v1/reports/*; ACTION an HTTP method or *. --rule takes Casbin CSV lines
("p, role:user, /api/v1/todos, GET, allow" or "g, user:<id>, role:admin") and may repeat.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 0 && len(args) != 3 {
				return errors.New("want SUBJECT OBJECT ACTION, or --rule")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 && len(lines) == 0 {
				return errors.New("nothing to " + use + ": give SUBJECT OBJECT ACTION or --rule")
			}
			if effect != policies.Allow && effect != policies.Deny {
				return fmt.Errorf("--effect %q: want allow or deny", effect)
			}
			closeDBs, store, svc, err := openPolicyService(ctx, g)
			if err != nil {
				return err
			}
			defer closeDBs()
			var rules []policies.Rule
			if len(args) == 3 {
				sub, err := subjectArg(ctx, store, args[0])
				if add && effect == policies.Allow {
					sub, err = grantSubjectArg(ctx, e, store, args[0])
				}
				if err != nil {
					return err
				}
				rules = append(rules, policies.Rule{Type: policies.Permission, Subject: sub, Object: args[1], Action: args[2], Effect: effect})
			}
			for _, l := range lines {
				r, err := policies.ParseRule(l)
				if err != nil {
					return err
				}
				rules = append(rules, r)
			}
			ch := policies.Change{Comment: comment}
			if add {
				ch.Add = rules
			} else {
				ch.Remove = rules
			}
			rev, err := svc.Apply(ctx, cliActor(e), ch)
			if err != nil {
				return err
			}
			return printRevision(e, g, rev)
		},
	}
	f := cmd.Flags()
	f.StringVar(&effect, "effect", policies.Allow, "effect of the SUBJECT OBJECT ACTION rule: allow or deny")
	f.StringArrayVar(&lines, "rule", nil, "a rule as a Casbin CSV line (repeatable)")
	f.StringVar(&comment, "comment", "", "why, recorded with the revision")
	return cmd
}

func newPoliciesCheckCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "check SUBJECT OBJECT ACTION", Short: "Dry run: may SUBJECT do ACTION on OBJECT, and which rule decides", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			closeDBs, store, svc, err := openPolicyService(ctx, g)
			if err != nil {
				return err
			}
			defer closeDBs()
			sub, err := subjectArg(ctx, store, args[0])
			if err != nil {
				return err
			}
			d, err := svc.Check(ctx, sub, args[1], args[2])
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(e.stdout, d)
			}
			verdict := "denied"
			if d.Allowed {
				verdict = "allowed"
			}
			switch {
			case d.Rule != nil:
				fmt.Fprintf(e.stdout, "%s by %q (revision %d)\n", verdict, d.Rule.String(), d.Revision)
			default:
				fmt.Fprintf(e.stdout, "%s: no rule matches (revision %d)\n", verdict, d.Revision)
			}
			return nil
		},
	}
}

func newPoliciesRevisionsCmd(e *env, g *globals) *cobra.Command {
	var limit int
	var before int64
	cmd := &cobra.Command{
		Use: "revisions", Short: "List policy revisions, newest first (the audit trail)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			closeDBs, _, svc, err := openPolicyService(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer closeDBs()
			revs, err := svc.Revisions(cmd.Context(), limit, before)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(e.stdout, revs)
			}
			var rows [][]string
			for _, r := range revs {
				c := r.Comment
				if r.RestoredFrom > 0 && !strings.Contains(c, "restore") {
					c = fmt.Sprintf("restore of %d: %s", r.RestoredFrom, c)
				}
				rows = append(rows, []string{strconv.FormatInt(r.Number, 10), r.Time.Format(time.RFC3339), r.Actor,
					"+" + strconv.Itoa(len(r.Added)), "-" + strconv.Itoa(len(r.Removed)), c})
			}
			return printTable(e.stdout, []string{"REVISION", "TIME", "ACTOR", "ADDED", "REMOVED", "COMMENT"}, rows)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many revisions (1 to 1000)")
	cmd.Flags().Int64Var(&before, "before", 0, "only revisions numbered below this one")
	return cmd
}

func newPoliciesRestoreCmd(e *env, g *globals) *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use: "restore REVISION", Short: "Make the policy what it was at REVISION (itself a new revision)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("revision %q: want a revision number", args[0])
			}
			closeDBs, _, svc, err := openPolicyService(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer closeDBs()
			rev, err := svc.Restore(cmd.Context(), cliActor(e), n, comment)
			if errors.Is(err, policies.ErrNoChange) {
				fmt.Fprintf(e.stderr, "the policy already is as at revision %d: nothing to do\n", n)
				return nil
			}
			if err != nil {
				return err
			}
			return printRevision(e, g, rev)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why, recorded with the revision")
	return cmd
}

func newPoliciesExportCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "export", Short: "Write the policy as Casbin CSV to standard output", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			closeDBs, _, svc, err := openPolicyService(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer closeDBs()
			_, err = svc.Export(cmd.Context(), e.stdout)
			return err
		},
	}
}

func newPoliciesImportCmd(e *env, g *globals) *cobra.Command {
	var comment string
	cmd := &cobra.Command{
		Use: "import FILE|-", Short: "Replace the policy with the rules of a Casbin CSV file (one revision; - reads standard input)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = e.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			closeDBs, _, svc, err := openPolicyService(cmd.Context(), g)
			if err != nil {
				return err
			}
			defer closeDBs()
			rev, err := svc.Import(cmd.Context(), cliActor(e), r, comment)
			if errors.Is(err, policies.ErrNoChange) {
				fmt.Fprintln(e.stderr, "the policy already is as the file says: nothing to do")
				return nil
			}
			if err != nil {
				return err
			}
			return printRevision(e, g, rev)
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why, recorded with the revision")
	return cmd
}
