package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/idp"
)

const userColumns = "id, email, email_verified, name, password_hash, disabled, created_at, updated_at"

// userRow is a users row as scanned.
type userRow struct {
	id, email, name, passwordHash string
	emailVerified, disabled       bool
	createdAt, updatedAt          int64
}

func (r *userRow) dest() []any {
	return []any{&r.id, &r.email, &r.emailVerified, &r.name, &r.passwordHash, &r.disabled, &r.createdAt, &r.updatedAt}
}

func (r *userRow) user() *idp.User {
	return &idp.User{
		ID:            r.id,
		Email:         r.email,
		EmailVerified: r.emailVerified,
		Name:          r.name,
		PasswordHash:  r.passwordHash,
		Disabled:      r.disabled,
		CreatedAt:     fromMillis(r.createdAt),
		UpdatedAt:     fromMillis(r.updatedAt),
	}
}

// CreateUser stores a new user; idp.ErrConflict if the ID (by a user or a client, RS-11) or
// the email (compared after idp.NormalizeEmail) is taken. An empty ID is set to a new random UUID and zero timestamps to
// the current time, in u too.
func (s *Store) CreateUser(ctx context.Context, u *idp.User) error {
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	if err := s.idFree(ctx, "clients", u.ID); err != nil { // RS-11: see CreateClient
		return fmt.Errorf("create user: %w", err)
	}
	_, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"INSERT INTO users (id, email, email_key, email_verified, name, password_hash, disabled, created_at, updated_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		u.ID, u.Email, idp.NormalizeEmail(u.Email), u.EmailVerified, u.Name, u.PasswordHash, u.Disabled,
		millis(u.CreatedAt), millis(u.UpdatedAt))
	return domainErr("create user", err)
}

func (s *Store) getUser(ctx context.Context, q sqlx.ExtContext, where string, arg any, lock bool) (*idp.User, error) {
	query := "SELECT " + userColumns + " FROM users WHERE " + where + " = ?"
	if lock {
		query += s.forUpdate
	}
	var r userRow
	if err := q.QueryRowxContext(ctx, s.rebind(query), arg).Scan(r.dest()...); err != nil {
		return nil, err
	}
	return r.user(), nil
}

// GetUser returns the user with the ID; idp.ErrNotFound if there is none.
func (s *Store) GetUser(ctx context.Context, id string) (*idp.User, error) {
	u, err := s.getUser(ctx, s.q(ctx), "id", id, false)
	if err != nil {
		return nil, domainErr(fmt.Sprintf("get user %q", id), err)
	}
	return u, nil
}

// GetUserByEmail returns the user whose email equals email after idp.NormalizeEmail;
// idp.ErrNotFound if there is none.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (*idp.User, error) {
	u, err := s.getUser(ctx, s.q(ctx), "email_key", idp.NormalizeEmail(email), false)
	if err != nil {
		return nil, domainErr("get user by email", err)
	}
	return u, nil
}

// ListUsers returns every user, oldest first.
func (s *Store) ListUsers(ctx context.Context) ([]*idp.User, error) {
	rows, err := s.q(ctx).QueryxContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY created_at, id")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []*idp.User
	for rows.Next() {
		var r userRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, r.user())
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// UpdateUser reads the user, applies fn and writes the result, in one transaction (the one in
// ctx, if any). fn must not change the ID; a changed email must stay unique (idp.ErrConflict).
// UpdatedAt is set to the current time.
func (s *Store) UpdateUser(ctx context.Context, id string, fn func(u *idp.User) error) error {
	what := fmt.Sprintf("update user %q", id)
	return s.inTx(ctx, func(q sqlx.ExtContext) error {
		u, err := s.getUser(ctx, q, "id", id, true)
		if err != nil {
			return domainErr(what, err)
		}
		if err := fn(u); err != nil {
			return err
		}
		if u.ID != id {
			return fmt.Errorf("%s: the ID cannot change (to %q)", what, u.ID)
		}
		u.UpdatedAt = s.now().UTC().Truncate(time.Millisecond)
		_, err = q.ExecContext(ctx, s.rebind(
			"UPDATE users SET email = ?, email_key = ?, email_verified = ?, name = ?, password_hash = ?, "+
				"disabled = ?, created_at = ?, updated_at = ? WHERE id = ?"),
			u.Email, idp.NormalizeEmail(u.Email), u.EmailVerified, u.Name, u.PasswordHash,
			u.Disabled, millis(u.CreatedAt), millis(u.UpdatedAt), id)
		return domainErr(what, err)
	})
}

// CreateLoginSession stores a login session; idp.ErrConflict if its IDHash is taken.
func (s *Store) CreateLoginSession(ctx context.Context, ls *idp.LoginSession) error {
	if ls.CreatedAt.IsZero() {
		ls.CreatedAt = s.now().UTC().Truncate(time.Millisecond)
	}
	if ls.LastSeenAt.IsZero() {
		ls.LastSeenAt = ls.CreatedAt
	}
	if ls.SID == "" {
		ls.SID = ls.IDHash
	}
	_, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"INSERT INTO login_sessions (id_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		ls.IDHash, ls.SID, ls.UserID, millis(ls.AuthTime), encodeList(ls.AMR),
		millis(ls.CreatedAt), millis(ls.LastSeenAt), millis(ls.ExpiresAt))
	return domainErr("create login session", err)
}

// loginSessionColumns are read by scanLoginSession, in its order.
const loginSessionColumns = "id_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at"

func scanLoginSession(row interface{ Scan(...any) error }) (*idp.LoginSession, error) {
	var (
		ls                                         idp.LoginSession
		amr                                        string
		authTime, createdAt, lastSeenAt, expiresAt int64
	)
	if err := row.Scan(&ls.IDHash, &ls.SID, &ls.UserID, &authTime, &amr, &createdAt, &lastSeenAt, &expiresAt); err != nil {
		return nil, domainErr("get login session", err)
	}
	var err error
	if ls.AMR, err = decodeList(amr); err != nil {
		return nil, fmt.Errorf("get login session: %w", err)
	}
	ls.AuthTime, ls.CreatedAt = fromMillis(authTime), fromMillis(createdAt)
	ls.LastSeenAt, ls.ExpiresAt = fromMillis(lastSeenAt), fromMillis(expiresAt)
	return &ls, nil
}

// GetLoginSessionBySID returns the newest login session of a sign-in; idp.ErrNotFound if it has
// none. Like GetLoginSession it does not check expiry.
func (s *Store) GetLoginSessionBySID(ctx context.Context, sid string) (*idp.LoginSession, error) {
	return scanLoginSession(s.q(ctx).QueryRowxContext(ctx, s.rebind(
		"SELECT "+loginSessionColumns+" FROM login_sessions WHERE sid = ? ORDER BY last_seen_at DESC LIMIT 1"), sid))
}

// GetLoginSession returns the login session; idp.ErrNotFound if there is none. It does not
// check expiry: the caller applies the idle and absolute timeouts.
func (s *Store) GetLoginSession(ctx context.Context, idHash string) (*idp.LoginSession, error) {
	return scanLoginSession(s.q(ctx).QueryRowxContext(ctx, s.rebind(
		"SELECT "+loginSessionColumns+" FROM login_sessions WHERE id_hash = ?"), idHash))
}

// TouchLoginSession sets the session's LastSeenAt; idp.ErrNotFound if there is no session.
func (s *Store) TouchLoginSession(ctx context.Context, idHash string, at time.Time) error {
	res, err := s.q(ctx).ExecContext(ctx, s.rebind("UPDATE login_sessions SET last_seen_at = ? WHERE id_hash = ?"), millis(at), idHash)
	if err != nil {
		return domainErr("touch login session", err)
	}
	return mustAffect("touch login session", res)
}

// DeleteLoginSession ends a login session. Ending one that does not exist is not an error, so
// that logging out twice is harmless.
func (s *Store) DeleteLoginSession(ctx context.Context, idHash string) error {
	_, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM login_sessions WHERE id_hash = ?"), idHash)
	return domainErr("delete login session", err)
}

// DeleteUserLoginSessions ends every login session of a user.
func (s *Store) DeleteUserLoginSessions(ctx context.Context, userID string) error {
	_, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM login_sessions WHERE user_id = ?"), userID)
	return domainErr(fmt.Sprintf("delete login sessions of user %q", userID), err)
}

// GetConsent returns the consent of a user to a client; idp.ErrNotFound if there is none.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (*idp.Consent, error) {
	what := fmt.Sprintf("get consent of user %q to client %q", userID, clientID)
	var r consentRow
	err := s.q(ctx).QueryRowxContext(ctx, s.rebind(
		"SELECT "+consentColumns+" FROM consents WHERE user_id = ? AND client_id = ?"),
		userID, clientID).Scan(r.dest()...)
	if err != nil {
		return nil, domainErr(what, err)
	}
	c, err := r.consent()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return c, nil
}

// ListConsents returns every consent of a user, oldest first (the connected-apps page, CO-05).
func (s *Store) ListConsents(ctx context.Context, userID string) ([]*idp.Consent, error) {
	what := fmt.Sprintf("list consents of user %q", userID)
	rows, err := s.q(ctx).QueryxContext(ctx, s.rebind(
		"SELECT "+consentColumns+" FROM consents WHERE user_id = ? ORDER BY created_at, client_id"), userID)
	if err != nil {
		return nil, domainErr(what, err)
	}
	defer rows.Close()
	var out []*idp.Consent
	for rows.Next() {
		var r consentRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		c, err := r.consent()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

const consentColumns = "user_id, client_id, scopes, audiences, created_at, updated_at"

// consentRow is a consents row as scanned.
type consentRow struct {
	userID, clientID, scopes, audiences string
	createdAt, updatedAt                int64
}

func (r *consentRow) dest() []any {
	return []any{&r.userID, &r.clientID, &r.scopes, &r.audiences, &r.createdAt, &r.updatedAt}
}

func (r *consentRow) consent() (*idp.Consent, error) {
	c := &idp.Consent{UserID: r.userID, ClientID: r.clientID, CreatedAt: fromMillis(r.createdAt), UpdatedAt: fromMillis(r.updatedAt)}
	var err error
	if c.Scopes, err = decodeList(r.scopes); err != nil {
		return nil, err
	}
	if c.Audiences, err = decodeList(r.audiences); err != nil {
		return nil, err
	}
	return c, nil
}

// SaveConsent creates the consent of c.UserID to c.ClientID or replaces its scopes and
// audiences; an existing consent keeps its CreatedAt. Zero timestamps in c are set to the
// current time.
func (s *Store) SaveConsent(ctx context.Context, c *idp.Consent) error {
	now := s.now().UTC().Truncate(time.Millisecond)
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = now
	}
	_, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"INSERT INTO consents (user_id, client_id, scopes, audiences, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "+
			"ON CONFLICT (user_id, client_id) DO UPDATE SET "+
			"scopes = excluded.scopes, audiences = excluded.audiences, updated_at = excluded.updated_at"),
		c.UserID, c.ClientID, encodeList(c.Scopes), encodeList(c.Audiences), millis(c.CreatedAt), millis(c.UpdatedAt))
	return domainErr(fmt.Sprintf("save consent of user %q to client %q", c.UserID, c.ClientID), err)
}

// DeleteConsent removes the consent of a user to a client; idp.ErrNotFound if there is none.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	what := fmt.Sprintf("delete consent of user %q to client %q", userID, clientID)
	res, err := s.q(ctx).ExecContext(ctx, s.rebind("DELETE FROM consents WHERE user_id = ? AND client_id = ?"), userID, clientID)
	if err != nil {
		return domainErr(what, err)
	}
	return mustAffect(what, res)
}

// RevokeSubjectClientTokens revokes every refresh token and deletes every access token that one
// client holds for a subject, and marks the subject's unredeemed codes for that client used: the
// user withdrew the client's access (CO-05). Other clients' tokens of the subject, and other
// subjects' tokens of the client, stay. It runs in one transaction (the one in ctx, if any).
func (s *Store) RevokeSubjectClientTokens(ctx context.Context, subject, clientID string) error {
	if subject == "" || clientID == "" {
		return errors.New("revoke subject client tokens: empty subject or client")
	}
	err := s.inTx(ctx, func(q sqlx.ExtContext) error {
		for _, stmt := range []string{
			"UPDATE " + refreshTable + " SET active = FALSE, revoked = TRUE WHERE subject = ? AND client_id = ? AND NOT revoked",
			"DELETE FROM " + accessTable + " WHERE subject = ? AND client_id = ?",
			"UPDATE " + codesTable + " SET active = FALSE WHERE subject = ? AND client_id = ? AND active",
		} {
			if _, err := q.ExecContext(ctx, s.rebind(stmt), subject, clientID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke tokens of subject %q for client %q: %w", subject, clientID, storageErr(err))
	}
	return nil
}
