package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/policies"
)

func newRolesCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "roles", Short: "Assign roles to users and clients (policy revisions)"}
	cmd.AddCommand(newRolesAssignCmd(e, g, true), newRolesAssignCmd(e, g, false), newRolesListCmd(e, g))
	return cmd
}

// newRolesAssignCmd is `roles assign` and `roles unassign`.
func newRolesAssignCmd(e *env, g *globals, assign bool) *cobra.Command {
	var comment string
	use, short := "assign", "Give SUBJECT the ROLE"
	if !assign {
		use, short = "unassign", "Take the ROLE away from SUBJECT"
	}
	cmd := &cobra.Command{
		Use: use + " SUBJECT ROLE", Short: short,
		Long: short + `.

SUBJECT is user:<id>, client:<id>, role:<name> or a user's email; ROLE is role:<name> or <name>.
The first admin: gatehouse roles assign alice@example.com admin`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			closeDBs, store, svc, err := openPolicyService(ctx, g)
			if err != nil {
				return err
			}
			defer closeDBs()
			sub, err := subjectArg(ctx, store, args[0])
			if assign { // F17: an enabled account; a warning for an unconfirmed address
				sub, err = grantSubjectArg(ctx, e, store, args[0])
			}
			if err != nil {
				return err
			}
			role := roleArg(args[1])
			var rev policies.Revision
			if assign {
				rev, err = svc.Assign(ctx, cliActor(e), sub, role, comment)
			} else {
				rev, err = svc.Unassign(ctx, cliActor(e), sub, role, comment)
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

func newRolesListCmd(e *env, g *globals) *cobra.Command {
	var subject, role string
	cmd := &cobra.Command{
		Use: "list", Short: "List role assignments", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			closeDBs, store, svc, err := openPolicyService(ctx, g)
			if err != nil {
				return err
			}
			defer closeDBs()
			if subject != "" {
				if subject, err = subjectArg(ctx, store, subject); err != nil {
					return err
				}
			}
			if role != "" {
				role = roleArg(role)
			}
			p, err := svc.List(ctx)
			if err != nil {
				return err
			}
			type assignment struct {
				Subject string `json:"subject"`
				Role    string `json:"role"`
			}
			out := []assignment{}
			var rows [][]string
			for _, a := range p.Assignments {
				if subject != "" && a.Subject != subject || role != "" && a.Role != role {
					continue
				}
				out = append(out, assignment{a.Subject, a.Role})
				rows = append(rows, []string{a.Subject, a.Role})
			}
			if g.output == "json" {
				return printJSON(e.stdout, out)
			}
			if len(rows) == 0 {
				fmt.Fprintln(e.stderr, "no role assignments"+strings.Repeat(" match", min(1, len(subject+role))))
				return nil
			}
			return printTable(e.stdout, []string{"SUBJECT", "ROLE"}, rows)
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "only this subject's roles (user:<id>, client:<id> or an email)")
	cmd.Flags().StringVar(&role, "role", "", "only the holders of this role")
	return cmd
}
