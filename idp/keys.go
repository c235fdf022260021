package idp

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite/token/jwt"
)

// Signing algorithms Gatehouse can sign with. RS256 is always present: OpenID Connect requires
// it for ID tokens (OIDC Core §15.1).
const (
	RS256 = "RS256"
	ES256 = "ES256"
)

// SupportedSigningAlgs lists the algorithms a key can be created for.
var SupportedSigningAlgs = []string{RS256, ES256}

// Sealer encrypts private keys with AES-256-GCM under keys derived from the server secrets. The
// first secret encrypts; every secret is tried to decrypt, so the secret itself can rotate.
type Sealer struct {
	aeads []cipher.AEAD
}

// MinSecretLength is the shortest server secret accepted, in bytes.
const MinSecretLength = 32

// NewSealer derives one AES-256-GCM key per secret (newest first).
func NewSealer(secrets [][]byte) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no server secret")
	}
	s := &Sealer{}
	for i, sec := range secrets {
		if len(sec) < MinSecretLength {
			return nil, fmt.Errorf("server secret #%d is %d bytes; at least %d are required", i+1, len(sec), MinSecretLength)
		}
		key := DeriveKey(sec, "key-encryption")
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// DeriveKey derives a 256-bit key for one purpose from a server secret, so that the secret is
// never used directly for two things.
func DeriveKey(secret []byte, purpose string) []byte {
	h := sha256.New()
	h.Write([]byte("gatehouse/v1/" + purpose + "\x00"))
	h.Write(secret)
	return h.Sum(nil)
}

// Seal encrypts plaintext, binding it to aad.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	a := s.aeads[0]
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return a.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced under any of the secrets.
func (s *Sealer) Open(ciphertext, aad []byte) ([]byte, error) {
	for _, a := range s.aeads {
		if len(ciphertext) < a.NonceSize() {
			break
		}
		if pt, err := a.Open(nil, ciphertext[:a.NonceSize()], ciphertext[a.NonceSize():], aad); err == nil {
			return pt, nil
		}
	}
	return nil, errors.New("cannot decrypt signing key: none of the configured secrets (GATEHOUSE_SECRET) opens it")
}

// KeysConfig configures key management.
type KeysConfig struct {
	// AccessTokenAlg signs access tokens (RS256 or ES256).
	AccessTokenAlg string
	// RetireAfter is how long a retired key stays published: at least the longest lifetime of a
	// token it may have signed.
	RetireAfter time.Duration
	// ReloadInterval is how often the key ring is reread from the store, so that a rotation done
	// by another instance or the CLI is seen. 0 disables the reload loop.
	ReloadInterval time.Duration
}

// Keys manages signing keys: it creates them, rotates them, publishes them as JWKS and signs with
// the active one. Every instance reloads the ring from the store, so all instances agree.
type Keys struct {
	store  Store
	sealer *Sealer
	cfg    KeysConfig
	log    *slog.Logger
	ring   atomic.Pointer[keyRing]
	mu     sync.Mutex // serializes reloads
}

type keyRing struct {
	active map[string]*loadedKey // by alg
	byKID  map[string]*loadedKey
	jwks   []byte
	loaded time.Time
}

type loadedKey struct {
	kid   string
	alg   string
	state string
	pub   crypto.PublicKey
	priv  *jose.JSONWebKey // only for the active and next keys
}

// NewKeys returns a key manager. Call Init before use.
func NewKeys(store Store, sealer *Sealer, cfg KeysConfig, log *slog.Logger) *Keys {
	if cfg.AccessTokenAlg == "" {
		cfg.AccessTokenAlg = ES256
	}
	if cfg.RetireAfter <= 0 {
		cfg.RetireAfter = DefaultRetireAfter
	}
	return &Keys{store: store, sealer: sealer, cfg: cfg, log: log}
}

// Algs returns the algorithms the provider signs with: RS256 and the access-token algorithm.
func (k *Keys) Algs() []string {
	if k.cfg.AccessTokenAlg == RS256 {
		return []string{RS256}
	}
	return []string{RS256, k.cfg.AccessTokenAlg}
}

// Init makes sure there is an active and a next key for every algorithm in use, then loads them.
func (k *Keys) Init(ctx context.Context) error {
	stored, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	for _, alg := range k.Algs() {
		var hasActive, hasNext bool
		for _, s := range stored {
			hasActive = hasActive || (s.Alg == alg && s.State == KeyActive)
			hasNext = hasNext || (s.Alg == alg && s.State == KeyNext)
		}
		if !hasActive {
			if _, err := k.create(ctx, alg, KeyActive); err != nil {
				return err
			}
			k.log.Info("created signing key", "alg", alg, "state", KeyActive)
		}
		if !hasNext {
			if _, err := k.create(ctx, alg, KeyNext); err != nil {
				return err
			}
		}
	}
	return k.Reload(ctx)
}

// create generates, encrypts and stores a key.
func (k *Keys) create(ctx context.Context, alg, state string) (*SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("signing algorithm %q is not supported (want one of %s)", alg, strings.Join(SupportedSigningAlgs, ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	kidBytes := make([]byte, 12)
	if _, err := rand.Read(kidBytes); err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(kidBytes)
	pubJWK, err := json.Marshal(jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	sk := &SigningKey{
		KID: kid, Alg: alg, State: state, PublicJWK: pubJWK,
		PrivateEnc: k.sealer.Seal(der, []byte(kid)), CreatedAt: now,
	}
	if state == KeyActive {
		sk.ActivatedAt = now
	}
	if err := k.store.CreateSigningKey(ctx, sk); err != nil {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	return sk, nil
}

// Rotate makes the next key of alg active, retires the active one (still published for
// RetireAfter) and creates a new next key. The key that becomes active has been published since
// the previous rotation, so resource servers that cache JWKS already know it. It returns the kid
// that now signs.
func (k *Keys) Rotate(ctx context.Context, alg string) (string, error) {
	if !slices.Contains(k.Algs(), alg) {
		return "", fmt.Errorf("this provider does not sign with %s (it uses %s)", alg, strings.Join(k.Algs(), ", "))
	}
	stored, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return "", err
	}
	var next *SigningKey
	var active []*SigningKey
	for _, s := range stored {
		switch {
		case s.Alg == alg && s.State == KeyNext && next == nil:
			next = s
		case s.Alg == alg && s.State == KeyActive:
			active = append(active, s)
		}
	}
	if next == nil {
		if next, err = k.create(ctx, alg, KeyNext); err != nil {
			return "", err
		}
	}
	now := time.Now()
	for _, a := range active {
		if err := k.store.UpdateSigningKey(ctx, a.KID, func(s *SigningKey) error {
			s.State, s.RetiredAt, s.ExpiresAt = KeyRetired, now, now.Add(k.cfg.RetireAfter)
			return nil
		}); err != nil {
			return "", fmt.Errorf("retire key %s: %w", a.KID, err)
		}
	}
	if err := k.store.UpdateSigningKey(ctx, next.KID, func(s *SigningKey) error {
		s.State, s.ActivatedAt = KeyActive, now
		return nil
	}); err != nil {
		return "", fmt.Errorf("activate key %s: %w", next.KID, err)
	}
	if _, err := k.create(ctx, alg, KeyNext); err != nil {
		return "", err
	}
	return next.KID, k.Reload(ctx)
}

// Reload rereads the keys from the store. Expired retired keys are dropped from JWKS.
func (k *Keys) Reload(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	stored, err := k.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	old := k.ring.Load()
	now := time.Now()
	ring := &keyRing{active: map[string]*loadedKey{}, byKID: map[string]*loadedKey{}, loaded: now}
	var pubs []json.RawMessage
	// Stored newest first: the newest active key of an algorithm wins if two are marked active.
	for _, s := range stored {
		if s.State == KeyRetired && !s.ExpiresAt.IsZero() && s.ExpiresAt.Before(now) {
			continue
		}
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(s.PublicJWK, &jwk); err != nil {
			return fmt.Errorf("signing key %s: bad public JWK: %w", s.KID, err)
		}
		lk := &loadedKey{kid: s.KID, alg: s.Alg, state: s.State, pub: jwk.Key}
		if s.State != KeyRetired {
			if prev := old.lookup(s.KID); prev != nil && prev.priv != nil {
				lk.priv = prev.priv
			} else {
				der, err := k.sealer.Open(s.PrivateEnc, []byte(s.KID))
				if err != nil {
					return fmt.Errorf("signing key %s: %w", s.KID, err)
				}
				pk, err := x509.ParsePKCS8PrivateKey(der)
				if err != nil {
					return fmt.Errorf("signing key %s: %w", s.KID, err)
				}
				lk.priv = &jose.JSONWebKey{Key: pk, KeyID: s.KID, Algorithm: s.Alg, Use: "sig"}
			}
		}
		ring.byKID[s.KID] = lk
		if s.State == KeyActive && ring.active[s.Alg] == nil {
			ring.active[s.Alg] = lk
		}
		pubs = append(pubs, s.PublicJWK)
	}
	for _, alg := range k.Algs() {
		if ring.active[alg] == nil {
			return fmt.Errorf("no active %s signing key (run gatehouse serve once, or gatehouse keys rotate)", alg)
		}
	}
	ring.jwks, err = json.Marshal(map[string]any{"keys": pubs})
	if err != nil {
		return err
	}
	k.ring.Store(ring)
	return nil
}

func (r *keyRing) lookup(kid string) *loadedKey {
	if r == nil {
		return nil
	}
	return r.byKID[kid]
}

// Run reloads the key ring every ReloadInterval until ctx ends.
func (k *Keys) Run(ctx context.Context) {
	if k.cfg.ReloadInterval <= 0 {
		return
	}
	t := time.NewTicker(k.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := k.Reload(ctx); err != nil && ctx.Err() == nil {
				k.log.Error("reload signing keys", "err", err)
			}
		}
	}
}

// JWKS returns the public key set (RFC 7517) as JSON: every active, next and unexpired retired
// key, public members only (OIDC-07).
func (k *Keys) JWKS() []byte { return k.ring.Load().jwks }

// Ready reports whether keys are loaded.
func (k *Keys) Ready() bool { return k.ring.Load() != nil }

// Signer returns a fosite jwt.Signer that signs with the active key of alg and verifies with any
// published key, chosen by the token's kid.
func (k *Keys) Signer(alg string) jwt.Signer { return &signer{keys: k, alg: alg} }

type signer struct {
	keys *Keys
	alg  string
}

var _ jwt.Signer = (*signer)(nil)

// Generate signs claims with the active key, putting its kid in the header.
func (s *signer) Generate(_ context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	key := s.keys.ring.Load().active[s.alg]
	if key == nil || key.priv == nil {
		return "", "", fmt.Errorf("no active %s signing key", s.alg)
	}
	t := jwt.NewWithClaims(jose.SignatureAlgorithm(s.alg), claims)
	for hk, hv := range header.ToMap() {
		t.Header[hk] = hv
	}
	t.Header["kid"] = key.kid
	raw, err := t.SignedString(key.priv)
	if err != nil {
		return "", "", err
	}
	return raw, raw[strings.LastIndexByte(raw, '.')+1:], nil
}

// Decode verifies the signature with the published key named by the token's kid; the header's
// alg must be that key's own algorithm and this signer's (RS-01), so the RS256 signer of ID
// tokens never accepts an ES256 access token.
func (s *signer) Decode(_ context.Context, token string) (*jwt.Token, error) {
	ring := s.keys.ring.Load()
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key := ring.byKID[kid]
		if key == nil {
			return nil, fmt.Errorf("unknown key id")
		}
		if string(t.Method) != key.alg || key.alg != s.alg {
			return nil, fmt.Errorf("algorithm %q does not match the key's %q or this signer's %q", t.Method, key.alg, s.alg)
		}
		return key.pub, nil
	})
}

// Validate verifies a token and returns its signature.
func (s *signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// GetSignature returns the third part of a compact JWS.
func (s *signer) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("header, body and signature must all be set")
	}
	return parts[2], nil
}

// Hash returns SHA-256(in) (used for at_hash and c_hash).
func (s *signer) Hash(_ context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSigningMethodLength is the hash length used for at_hash.
func (s *signer) GetSigningMethodLength(context.Context) int { return sha256.Size }
