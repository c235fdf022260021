// Package bearer verifies OAuth 2.0 JWT access tokens (RFC 9068) for any net/http API. It knows
// the authorization server only by its issuer URL: it discovers jwks_uri from the issuer's
// metadata (RFC 8414, falling back to OpenID Connect Discovery) and verifies tokens offline with
// the cached keys.
//
// What a token must be to pass (the ids are /work/shared/SECURITY.md's):
//   - compact JWS, typ at+jwt or application/at+jwt (RS-05), no jku, jwk, x5u, x5c or crit header
//     (RS-03, RS-08);
//   - alg in Config.Algorithms (asymmetric only) and equal to the alg of the key its kid names
//     (RS-01); the signature valid (RS-08);
//   - iss equal to Config.Issuer (RS-06); aud containing Config.Audience (RS-04); exp present and
//     not past, nbf and iat not in the future, each with Config.Leeway (RS-07); sub and client_id
//     present.
//
// Keys are cached for the JWKS response's Cache-Control max-age clamped to [MinCacheTTL,
// MaxCacheTTL] (default 1 min to 1 h), then refreshed in the background while the cached keys
// keep verifying, so an unreachable issuer does not stop the API (RS-12). A token whose kid is
// unknown triggers one refetch, at most once per MinRefreshInterval (default 10 s) however many
// such tokens arrive (RS-02), which is how a rotated key is picked up. Every fetch, whatever
// caused it, shares that pace. While the issuer cannot be reached the cached keys keep
// verifying for MaxStale (default 6 h) past their cache lifetime; after that, and with no keys
// at all, every token is refused until a fetch succeeds.
//
// A token that passed is remembered by its SHA-256 (CacheSize entries, default 10,000) until
// its exp plus the leeway, so the same token again costs a hash and a lookup (about 1 µs)
// instead of a signature check (about 100 µs for ES256, 65 µs for RS256 on the benchmark
// machine). A cached token is still refused once it expires or once the key that verified it
// leaves the usable key set (removed from the JWKS, or past MaxStale).
//
// Usage:
//
//	v, err := bearer.New(ctx, bearer.Config{
//		Issuer:      "https://id.example",
//		Audience:    "https://api.example",
//		ResourceURL: "https://api.example",
//		Logger:      log,
//	})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("GET "+bearer.MetadataPath, v.MetadataHandler([]string{"todos:read", "todos:write"}))
//	mux.Handle("GET /todos", v.Middleware(v.RequireScope("todos:read")(listTodos)))
//	mux.Handle("POST /todos", v.Middleware(v.RequireScope("todos:write")(createTodo)))
//
// and in a handler:
//
//	p, _ := bearer.FromContext(r.Context())
//	if p.IsClient() { // a client-credentials token acts for no user (RS-11)
//		http.Error(w, "user token required", http.StatusForbidden)
//		return
//	}
//	todos := store.ListTodos(r.Context(), p.Subject)
//
// Failures are answered per RFC 6750 §3: 401 with `WWW-Authenticate: Bearer realm="<audience>",
// resource_metadata="<url>"` when there is no token, the same plus error="invalid_token" when the
// token is refused, 403 error="insufficient_scope" with the needed scope from RequireScope, and
// 400 invalid_request for two Authorization headers or a token in the query. resource_metadata
// points at the RFC 9728 document MetadataHandler serves.
//
// Handlers that refuse a token themselves after a finer check build their challenge with
// Challenge(r.Context(), code, description, scope), which adds the same realm and
// resource_metadata as the middleware's.
//
// Routes that must see a revocation at once (JWTs stay valid until they expire, RS-09) add
// RequireActive after Middleware; it introspects the token at the issuer (RFC 7662) with the
// credentials in Config.Introspection. Gatehouse answers such a client about a token only when
// the token's audience is one the client is registered for, so register it with this API's
// audience; other issuers have similar rules.
package bearer
