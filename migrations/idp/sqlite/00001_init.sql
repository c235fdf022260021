-- +goose Up

-- All timestamps are Unix milliseconds (BIGINT), so that one query text serves both dialects and
-- comparisons are numeric. Lists are JSON arrays in TEXT columns.
-- In the oauth2_* tables expires_at = 0 means that fosite's session recorded no expiry for the
-- token: such rows are never removed by DeleteExpired, only by their own flow.

CREATE TABLE clients (
    id                           TEXT PRIMARY KEY,
    name                         TEXT NOT NULL,
    secret_hash                  BLOB,               -- SHA-256 of the server-generated secret; NULL for public clients
    public                       BOOLEAN NOT NULL,
    first_party                  BOOLEAN NOT NULL,
    disabled                     BOOLEAN NOT NULL DEFAULT FALSE,
    token_endpoint_auth_method   TEXT NOT NULL,
    token_endpoint_auth_alg      TEXT NOT NULL DEFAULT '',
    jwks                         TEXT NOT NULL DEFAULT '',   -- JWK Set for private_key_jwt
    redirect_uris                TEXT NOT NULL,
    post_logout_redirect_uris    TEXT NOT NULL,
    grant_types                  TEXT NOT NULL,
    response_types               TEXT NOT NULL,
    scopes                       TEXT NOT NULL,
    audiences                    TEXT NOT NULL,
    allowed_cors_origins         TEXT NOT NULL,
    access_token_lifespan_ms     BIGINT NOT NULL DEFAULT 0,  -- 0: the server default
    refresh_token_lifespan_ms    BIGINT NOT NULL DEFAULT 0,  -- absolute lifetime of a grant; 0: default
    created_at                   BIGINT NOT NULL,
    updated_at                   BIGINT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    email_key       TEXT NOT NULL UNIQUE,   -- normalized email (NFKC, lower case): the uniqueness key
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    name            TEXT NOT NULL DEFAULT '',
    password_hash   TEXT NOT NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE login_sessions (
    id_hash       TEXT PRIMARY KEY,          -- hex SHA-256 of the cookie value
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time     BIGINT NOT NULL,
    amr           TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL            -- absolute end
);
CREATE INDEX login_sessions_user ON login_sessions (user_id);
CREATE INDEX login_sessions_expires ON login_sessions (expires_at);

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    audiences   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('next', 'active', 'retired')),
    public_jwk   TEXT NOT NULL,
    private_enc  BLOB NOT NULL,             -- AES-256-GCM under GATEHOUSE_SECRET
    created_at   BIGINT NOT NULL,
    activated_at BIGINT NOT NULL DEFAULT 0,
    retired_at   BIGINT NOT NULL DEFAULT 0,
    expires_at   BIGINT NOT NULL DEFAULT 0    -- a retired key is removed after this
);

CREATE TABLE oauth2_authorize_codes (
    signature     TEXT PRIMARY KEY,          -- hex SHA-256 of fosite's token signature
    request_id    TEXT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL DEFAULT '',
    requested_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    request       TEXT NOT NULL              -- the fosite request as JSON (scopes, audiences, form, session)
);
CREATE INDEX oauth2_authorize_codes_request ON oauth2_authorize_codes (request_id);
CREATE INDEX oauth2_authorize_codes_expires ON oauth2_authorize_codes (expires_at);
CREATE INDEX oauth2_authorize_codes_subject ON oauth2_authorize_codes (subject);

CREATE TABLE oauth2_access_tokens (
    signature     TEXT PRIMARY KEY,          -- hex SHA-256 of fosite's token signature
    request_id    TEXT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL DEFAULT '',
    requested_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    request       TEXT NOT NULL              -- the fosite request as JSON (scopes, audiences, form, session)
);
CREATE INDEX oauth2_access_tokens_request ON oauth2_access_tokens (request_id);
CREATE INDEX oauth2_access_tokens_expires ON oauth2_access_tokens (expires_at);
CREATE INDEX oauth2_access_tokens_subject ON oauth2_access_tokens (subject);

CREATE TABLE oauth2_refresh_tokens (
    signature     TEXT PRIMARY KEY,          -- hex SHA-256 of fosite's token signature
    request_id    TEXT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL DEFAULT '',
    requested_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    access_signature TEXT NOT NULL DEFAULT '',
    rotated_at    BIGINT NOT NULL DEFAULT 0,   -- when it was exchanged for a new one; 0: never
    revoked       BOOLEAN NOT NULL DEFAULT FALSE,
    request       TEXT NOT NULL              -- the fosite request as JSON (scopes, audiences, form, session)
);
CREATE INDEX oauth2_refresh_tokens_request ON oauth2_refresh_tokens (request_id);
CREATE INDEX oauth2_refresh_tokens_expires ON oauth2_refresh_tokens (expires_at);
CREATE INDEX oauth2_refresh_tokens_subject ON oauth2_refresh_tokens (subject);

CREATE TABLE oauth2_pkce (
    signature     TEXT PRIMARY KEY,          -- hex SHA-256 of fosite's token signature
    request_id    TEXT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL DEFAULT '',
    requested_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    request       TEXT NOT NULL              -- the fosite request as JSON (scopes, audiences, form, session)
);
CREATE INDEX oauth2_pkce_request ON oauth2_pkce (request_id);
CREATE INDEX oauth2_pkce_expires ON oauth2_pkce (expires_at);

CREATE TABLE oauth2_oidc (
    signature     TEXT PRIMARY KEY,          -- hex SHA-256 of fosite's token signature
    request_id    TEXT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL DEFAULT '',
    requested_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    request       TEXT NOT NULL              -- the fosite request as JSON (scopes, audiences, form, session)
);
CREATE INDEX oauth2_oidc_request ON oauth2_oidc (request_id);
CREATE INDEX oauth2_oidc_expires ON oauth2_oidc (expires_at);

CREATE TABLE oauth2_par (
    signature     TEXT PRIMARY KEY,          -- hex SHA-256 of fosite's token signature
    request_id    TEXT NOT NULL,
    client_id     TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    subject       TEXT NOT NULL DEFAULT '',
    requested_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    request       TEXT NOT NULL              -- the fosite request as JSON (scopes, audiences, form, session)
);
CREATE INDEX oauth2_par_request ON oauth2_par (request_id);
CREATE INDEX oauth2_par_expires ON oauth2_par (expires_at);

CREATE TABLE oauth2_jtis (
    jti_hash    TEXT PRIMARY KEY,            -- hex SHA-256 of a client assertion's jti
    expires_at  BIGINT NOT NULL
);
CREATE INDEX oauth2_jtis_expires ON oauth2_jtis (expires_at);

-- +goose Down
DROP TABLE oauth2_jtis;
DROP TABLE oauth2_par;
DROP TABLE oauth2_oidc;
DROP TABLE oauth2_pkce;
DROP TABLE oauth2_refresh_tokens;
DROP TABLE oauth2_access_tokens;
DROP TABLE oauth2_authorize_codes;
DROP TABLE signing_keys;
DROP TABLE consents;
DROP TABLE login_sessions;
DROP TABLE users;
DROP TABLE clients;
