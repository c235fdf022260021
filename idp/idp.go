package idp

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	"github.com/ory/fosite/storage"
)

// Domain errors. Stores translate driver errors into these; fosite storage methods return
// fosite's own sentinels instead (see Store).
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrUnavailable marks a storage failure where fosite would read any error as a verdict:
	// GetClient's errors become invalid_client there, so a store wraps its failures in this
	// and the endpoints answer 503 temporarily_unavailable instead (VU-02).
	ErrUnavailable = errors.New("storage unavailable")
)

// User is a person who can log in.
type User struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name,omitempty"`
	PasswordHash  string    `json:"-"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// LoginSession is a server-side login, reached through an opaque cookie. Only the SHA-256 of the
// cookie value is stored (IDHash).
type LoginSession struct {
	IDHash string
	// SID identifies the sign-in across the session-ID rotations of re-authentication by the
	// same user in the same browser; empty at creation means IDHash.
	SID        string
	UserID     string
	AuthTime   time.Time
	AMR        []string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute end; the idle timeout is applied to LastSeenAt
}

// Consent records the scopes and audiences a user granted a client.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	Audiences []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Purposes of user tokens: the single-use links mailed to a user.
const (
	PurposeVerifyEmail   = "verify_email"
	PurposeResetPassword = "reset_password"
)

// UserToken is a single-use link mailed to a user. Only the SHA-256 of the token in the link is
// stored (Hash, hex).
type UserToken struct {
	Hash      string
	UserID    string
	Purpose   string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ThrottleMemory is how long a login throttle count is kept after its last attempt: a key
// quiet for a day starts again from zero.
const ThrottleMemory = 24 * time.Hour

// Signing key states. A key is published in JWKS in every state; only the active key signs.
const (
	KeyNext    = "next"    // published, not yet signing: resource servers learn it first
	KeyActive  = "active"  // signs new tokens (one per algorithm)
	KeyRetired = "retired" // published until ExpiresAt so tokens it signed still verify
)

// SigningKey is a JWT signing key. PrivateEnc is the private key (PKCS #8 DER) encrypted under
// the server secret; PublicJWK the public JWK as JSON.
type SigningKey struct {
	KID         string
	Alg         string
	State       string
	PublicJWK   []byte
	PrivateEnc  []byte
	CreatedAt   time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
	ExpiresAt   time.Time
}

// Store is everything the provider persists. idp/sqlstore implements it on SQLite and
// PostgreSQL; idp/storetest is the conformance suite every implementation must pass.
//
// The fosite storage methods follow fosite's error contract (storage/memory.go):
// fosite.ErrNotFound for unknown signatures, fosite.ErrInvalidatedAuthorizeCode together with the
// stored request for a used code, and fosite.ErrInactiveToken together with the stored request for
// a rotated or revoked refresh token. Every method uses the transaction that BeginTX put in ctx,
// when there is one.
type Store interface {
	fosite.ClientManager
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	openid.OpenIDConnectRequestStorage
	pkce.PKCERequestStorage
	fosite.PARStorage
	storage.Transactional // fosite carries the transaction in ctx

	// CreateClient stores a new client; ErrConflict if the ID is taken.
	CreateClient(ctx context.Context, c *Client) error
	// GetClientByID returns the client, disabled or not; ErrNotFound if there is none.
	GetClientByID(ctx context.Context, id string) (*Client, error)
	ListClients(ctx context.Context) ([]*Client, error)
	// UpdateClient reads the client, applies fn and writes the result atomically.
	UpdateClient(ctx context.Context, id string, fn func(c *Client) error) error
	// DeleteClient removes the client and, through foreign keys, its tokens and consents.
	DeleteClient(ctx context.Context, id string) error

	// CreateUser stores a new user; ErrConflict if the email is taken (case-insensitively).
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, id string) (*User, error)
	// GetUserByEmail finds a user by email, compared after NormalizeEmail.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	ListUsers(ctx context.Context) ([]*User, error)
	UpdateUser(ctx context.Context, id string, fn func(u *User) error) error

	CreateLoginSession(ctx context.Context, s *LoginSession) error
	GetLoginSession(ctx context.Context, idHash string) (*LoginSession, error)
	// GetLoginSessionBySID returns the current login session of a sign-in (LoginSession.SID).
	GetLoginSessionBySID(ctx context.Context, sid string) (*LoginSession, error)
	// TouchLoginSession sets LastSeenAt.
	TouchLoginSession(ctx context.Context, idHash string, at time.Time) error
	DeleteLoginSession(ctx context.Context, idHash string) error
	// DeleteUserLoginSessions ends every login session of a user.
	DeleteUserLoginSessions(ctx context.Context, userID string) error

	// GetConsent returns ErrNotFound when the user never consented to the client.
	GetConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// SaveConsent creates or replaces the consent of c.UserID to c.ClientID.
	SaveConsent(ctx context.Context, c *Consent) error
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// ListConsents returns every consent of a user, oldest first.
	ListConsents(ctx context.Context, userID string) ([]*Consent, error)

	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// ListSigningKeys returns every stored key, newest first.
	ListSigningKeys(ctx context.Context) ([]*SigningKey, error)
	UpdateSigningKey(ctx context.Context, kid string, fn func(k *SigningKey) error) error
	DeleteSigningKey(ctx context.Context, kid string) error

	// RevokeSubjectTokens deactivates every refresh token and deletes every access token issued
	// to a subject (password change, account disabled).
	RevokeSubjectTokens(ctx context.Context, subject string) error
	// RevokeSubjectClientTokens does what RevokeSubjectTokens does, but only to the tokens and
	// codes one client holds for the subject (consent withdrawn, CO-05).
	RevokeSubjectClientTokens(ctx context.Context, subject, clientID string) error
	// TakeLoginAttempt counts one login attempt on a throttle key and reports whether it may go
	// ahead (RL-05). It is admitted only when the delay set by the key's previous attempt has
	// passed; the key's count then grows by one and its next delay becomes p.Delay(count). This
	// is one atomic conditional update, so concurrent callers never get more attempts admitted
	// than p allows. A refused attempt changes nothing, and retryAt says when the next one will
	// be admitted.
	TakeLoginAttempt(ctx context.Context, key string, p ThrottlePolicy) (ok bool, retryAt time.Time, err error)
	// ResetLoginAttempts forgets the count of a throttle key (a successful login). Resetting an
	// unknown key is not an error.
	ResetLoginAttempts(ctx context.Context, key string) error

	// CreateUserToken stores a single-use link token; ErrConflict if its hash is taken.
	CreateUserToken(ctx context.Context, t *UserToken) error
	// GetUserToken returns the unexpired token with this hash and purpose without using it;
	// ErrNotFound if there is none, it expired or it has another purpose.
	GetUserToken(ctx context.Context, hash, purpose string) (*UserToken, error)
	// ConsumeUserToken deletes and returns the unexpired token with this hash and purpose, in one
	// statement: of concurrent callers only one gets it (single use). ErrNotFound otherwise.
	ConsumeUserToken(ctx context.Context, hash, purpose string) (*UserToken, error)
	// DeleteUserTokens removes every token of a user with the purpose ("" for every purpose).
	DeleteUserTokens(ctx context.Context, userID, purpose string) error

	// DeleteExpired removes tokens, codes, sessions, used JTIs, link tokens and retired keys whose
	// expiry is before the given time, and login throttle counts untouched for ThrottleMemory
	// before it, and returns how many rows went.
	DeleteExpired(ctx context.Context, before time.Time) (n int64, err error)
}
