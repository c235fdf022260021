package main

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/idp"
)

// clientView is how a client is printed; the secret appears once, at creation.
type clientView struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            string   `json:"client_secret,omitempty"`
	Name                    string   `json:"name"`
	Public                  bool     `json:"public"`
	FirstParty              bool     `json:"first_party"`
	Disabled                bool     `json:"disabled"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	Scopes                  []string `json:"scopes"`
	Audiences               []string `json:"audiences"`
	AllowedCORSOrigins      []string `json:"allowed_cors_origins"`
	CreatedAt               string   `json:"created_at"`
}

func viewClient(c *idp.Client, secret string) clientView {
	return clientView{
		ClientID: c.ID, ClientSecret: secret, Name: c.Name, Public: c.Public, FirstParty: c.FirstParty,
		Disabled: c.Disabled, TokenEndpointAuthMethod: c.TokenEndpointAuthMethod,
		RedirectURIs: nonNil(c.RedirectURIs), PostLogoutRedirectURIs: nonNil(c.PostLogoutRedirectURIs),
		GrantTypes: nonNil(c.GrantTypes), Scopes: nonNil(c.Scopes), Audiences: nonNil(c.Audiences),
		AllowedCORSOrigins: nonNil(c.AllowedCORSOrigins), CreatedAt: c.CreatedAt.UTC().Format(time.RFC3339),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func newClientsCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage OAuth 2.0 clients"}
	cmd.AddCommand(newClientsCreateCmd(e, g), newClientsListCmd(e, g), newClientsGetCmd(e, g), newClientsDeleteCmd(e, g))
	return cmd
}

func newClientsCreateCmd(e *env, g *globals) *cobra.Command {
	var (
		name, scope, authMethod, jwksArg             string
		public, firstParty                           bool
		redirects, postLogout, grants, auds, origins []string
		accessLifespan, grantLifespan                time.Duration
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register a client; a confidential client's secret is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var err error
			if len(grants) == 0 {
				grants = []string{"authorization_code", "refresh_token"}
				if len(redirects) == 0 && !public {
					grants = []string{"client_credentials"}
				}
			}
			if authMethod == "" {
				authMethod = idp.AuthMethodBasic
				if public {
					authMethod = idp.AuthMethodNone
				}
			}
			now := time.Now()
			c := &idp.Client{
				ID: uuid.NewString(), Name: name, Public: public, FirstParty: firstParty,
				TokenEndpointAuthMethod: authMethod, RedirectURIs: redirects, PostLogoutRedirectURIs: postLogout,
				GrantTypes: grants, ResponseTypes: []string{"code"}, Scopes: strings.Fields(scope),
				Audiences: auds, AllowedCORSOrigins: origins, AccessTokenLifespan: accessLifespan,
				RefreshTokenLifespan: grantLifespan, CreatedAt: now, UpdatedAt: now,
			}
			if !slices.Contains(grants, "authorization_code") {
				c.ResponseTypes = []string{}
			}
			if jwksArg != "" {
				if c.JWKS, c.TokenEndpointAuthAlg, err = loadJWKS(jwksArg); err != nil {
					return err
				}
			}
			if err := c.Validate(); err != nil {
				return fmt.Errorf("invalid client:\n%w", err)
			}
			secret := ""
			if !public {
				secret = idp.GenerateClientSecret()
				c.SecretHash = idp.HashClientSecret([]byte(secret))
			}
			db, store, err := openStore(ctx, g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := store.CreateClient(ctx, c); err != nil {
				return fmt.Errorf("create client: %w", err)
			}
			v := viewClient(c, secret)
			if g.output == "json" {
				return printJSON(e.stdout, v)
			}
			fmt.Fprintf(e.stdout, "client_id:     %s\n", v.ClientID)
			if secret != "" {
				fmt.Fprintf(e.stdout, "client_secret: %s\n(shown once: store it now)\n", secret)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "display name shown on the consent page (required)")
	f.BoolVar(&public, "public", false, "a public client (browser or native app): no secret, PKCE only")
	f.BoolVar(&firstParty, "first-party", false, "a first-party client: no consent screen")
	f.StringArrayVar(&redirects, "redirect-uri", nil, "a redirect URI, matched exactly (repeatable)")
	f.StringArrayVar(&postLogout, "post-logout-redirect-uri", nil, "a post-logout redirect URI (repeatable)")
	f.StringArrayVar(&grants, "grant-type", nil, "authorization_code, refresh_token or client_credentials (repeatable; default from the other flags)")
	f.StringVar(&scope, "scope", "openid profile email offline_access", "space-separated scopes the client may ask for")
	f.StringArrayVar(&auds, "audience", nil, "an audience (resource server) the client may ask for; the default aud when none is requested (repeatable)")
	f.StringArrayVar(&origins, "cors-origin", nil, "a browser origin allowed to call the token endpoint (repeatable)")
	f.StringVar(&authMethod, "token-endpoint-auth-method", "", "client_secret_basic (default), client_secret_post, private_key_jwt, or none (public)")
	f.DurationVar(&accessLifespan, "access-token-lifespan", 0, "this client's access-token lifetime (default: the server's)")
	f.DurationVar(&grantLifespan, "grant-lifespan", 0, "absolute lifetime of this client's refresh tokens (default: the server's)")
	f.StringVar(&jwksArg, "jwks", "", "the client's public JWK Set for private_key_jwt: a file path or inline JSON")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

// loadJWKS reads a public JWK Set from a file or inline JSON and returns it with the signing
// algorithm its keys declare (RS256 when they declare none). Private keys are refused.
func loadJWKS(arg string) (*jose.JSONWebKeySet, string, error) {
	raw := []byte(arg)
	if !strings.HasPrefix(strings.TrimSpace(arg), "{") {
		b, err := os.ReadFile(arg)
		if err != nil {
			return nil, "", fmt.Errorf("--jwks: %w", err)
		}
		raw = b
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		return nil, "", fmt.Errorf("--jwks: not a JWK Set with at least one key (%v)", err)
	}
	alg := ""
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return nil, "", fmt.Errorf("--jwks: key %d is a private key; register only public keys", i+1)
		}
		if !k.Valid() || k.KeyID == "" {
			return nil, "", fmt.Errorf("--jwks: key %d is not valid or has no kid", i+1)
		}
		// The key type decides the algorithm (RS256 or ES256, as discovery advertises); a
		// declared alg must agree with it.
		var want string
		switch k.Key.(type) {
		case *rsa.PublicKey:
			want = idp.RS256
		case *ecdsa.PublicKey:
			want = idp.ES256
		default:
			return nil, "", fmt.Errorf("--jwks: key %d: only RSA (RS256) and P-256 (ES256) keys are supported", i+1)
		}
		if k.Algorithm != "" && k.Algorithm != want {
			return nil, "", fmt.Errorf("--jwks: key %d: algorithm %q does not fit its key type (want %s)", i+1, k.Algorithm, want)
		}
		if alg != "" && alg != want {
			return nil, "", errors.New("--jwks: all keys must be of one algorithm")
		}
		alg = want
	}
	return &set, alg, nil
}

func newClientsListCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List clients", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, store, err := openStore(cmd.Context(), g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			clients, err := store.ListClients(cmd.Context())
			if err != nil {
				return err
			}
			views := make([]clientView, 0, len(clients))
			var rows [][]string
			for _, c := range clients {
				v := viewClient(c, "")
				views = append(views, v)
				rows = append(rows, []string{v.ClientID, v.Name, strconv.FormatBool(v.Public), strconv.FormatBool(v.FirstParty), strings.Join(v.GrantTypes, ","), strconv.FormatBool(v.Disabled)})
			}
			if g.output == "json" {
				return printJSON(e.stdout, views)
			}
			return printTable(e.stdout, []string{"CLIENT ID", "NAME", "PUBLIC", "FIRST PARTY", "GRANTS", "DISABLED"}, rows)
		},
	}
}

func newClientsGetCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "get CLIENT_ID", Short: "Show a client", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, store, err := openStore(cmd.Context(), g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			c, err := store.GetClientByID(cmd.Context(), args[0])
			if errors.Is(err, idp.ErrNotFound) {
				return fmt.Errorf("client %q not found", args[0])
			}
			if err != nil {
				return err
			}
			v := viewClient(c, "")
			if g.output == "json" {
				return printJSON(e.stdout, v)
			}
			return printTable(e.stdout, []string{"FIELD", "VALUE"}, [][]string{
				{"client_id", v.ClientID}, {"name", v.Name}, {"public", strconv.FormatBool(v.Public)},
				{"first_party", strconv.FormatBool(v.FirstParty)}, {"auth_method", v.TokenEndpointAuthMethod},
				{"redirect_uris", strings.Join(v.RedirectURIs, " ")}, {"grant_types", strings.Join(v.GrantTypes, " ")},
				{"scopes", strings.Join(v.Scopes, " ")}, {"audiences", strings.Join(v.Audiences, " ")},
				{"disabled", strconv.FormatBool(v.Disabled)}, {"created_at", v.CreatedAt},
			})
		},
	}
}

func newClientsDeleteCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use: "delete CLIENT_ID", Short: "Delete a client with its tokens and consents", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, store, err := openStore(cmd.Context(), g, true)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := store.DeleteClient(cmd.Context(), args[0]); errors.Is(err, idp.ErrNotFound) {
				return fmt.Errorf("client %q not found", args[0])
			} else if err != nil {
				return err
			}
			if g.output == "json" {
				return printJSON(e.stdout, map[string]any{"client_id": args[0], "deleted": true})
			}
			fmt.Fprintf(e.stdout, "deleted client %s\n", args[0])
			return nil
		},
	}
}
