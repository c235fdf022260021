package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/idp"
)

func newKeysCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage signing keys"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List signing keys (public data only)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, store, err := openStore(cmd.Context(), g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			keys, err := store.ListSigningKeys(cmd.Context())
			if err != nil {
				return err
			}
			type keyView struct {
				KID       string `json:"kid"`
				Alg       string `json:"alg"`
				State     string `json:"state"`
				CreatedAt string `json:"created_at"`
				ExpiresAt string `json:"expires_at,omitempty"`
			}
			views := []keyView{}
			var rows [][]string
			for _, k := range keys {
				v := keyView{KID: k.KID, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt.UTC().Format(time.RFC3339)}
				if !k.ExpiresAt.IsZero() {
					v.ExpiresAt = k.ExpiresAt.UTC().Format(time.RFC3339)
				}
				views = append(views, v)
				rows = append(rows, []string{v.KID, v.Alg, v.State, v.CreatedAt, v.ExpiresAt})
			}
			if g.output == "json" {
				return printJSON(e.stdout, views)
			}
			return printTable(e.stdout, []string{"KID", "ALG", "STATE", "CREATED", "EXPIRES"}, rows)
		},
	})
	var alg, accessAlg string
	var retire time.Duration
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make the published next key active, retire the active one and publish a new next key",
		Long: `Rotate signing keys. The key that becomes active has been in JWKS since the previous
rotation, so resource servers already know it; the retired key stays in JWKS for --retire-after
so that tokens it signed keep verifying until they expire. Running servers pick the change up
within ten seconds.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			db, store, err := openStore(ctx, g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			log := slog.New(slog.NewTextHandler(e.stderr, nil))
			secrets, _, err := loadSecrets(g, db, log)
			if err != nil {
				return err
			}
			sealer, err := idp.NewSealer(secrets)
			if err != nil {
				return err
			}
			keys := idp.NewKeys(store, sealer, idp.KeysConfig{AccessTokenAlg: accessAlg, RetireAfter: retire}, log)
			if err := keys.Init(ctx); err != nil {
				return err
			}
			algs := keys.Algs()
			if alg != "" {
				algs = []string{alg}
			}
			out := map[string]string{}
			for _, a := range algs {
				kid, err := keys.Rotate(ctx, a)
				if err != nil {
					return err
				}
				out[a] = kid
			}
			if g.output == "json" {
				return printJSON(e.stdout, map[string]any{"active": out})
			}
			for a, kid := range out {
				fmt.Fprintf(e.stdout, "%s: now signing with %s\n", a, kid)
			}
			return nil
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "", "rotate only this algorithm's key (default: all in use)")
	rotate.Flags().StringVar(&accessAlg, "access-token-alg", idp.ES256, "the server's access-token algorithm (GATEHOUSE_ACCESS_TOKEN_ALG)")
	rotate.Flags().DurationVar(&retire, "retire-after", idp.DefaultRetireAfter, "how long the retired key stays published: longer than any token it signed lives")
	cmd.AddCommand(rotate)
	return cmd
}
