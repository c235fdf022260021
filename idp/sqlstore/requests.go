package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/idp"
)

// storedRequest is the JSON of a row's request column: the parts of a fosite.Requester that the
// handlers read back. The client is a column of its own, loaded from clients.
type storedRequest struct {
	ID                string           `json:"id"`
	RequestedAt       time.Time        `json:"requested_at"`
	ClientID          string           `json:"client_id"`
	RequestedScopes   []string         `json:"requested_scopes,omitempty"`
	GrantedScopes     []string         `json:"granted_scopes,omitempty"`
	RequestedAudience []string         `json:"requested_audience,omitempty"`
	GrantedAudience   []string         `json:"granted_audience,omitempty"`
	Form              url.Values       `json:"form,omitempty"`
	Session           json.RawMessage  `json:"session,omitempty"`
	Authorize         *storedAuthorize `json:"authorize,omitempty"`
}

// storedAuthorize holds the fields of a fosite.AuthorizeRequester beyond fosite.Requester, which
// fosite merges back from a PAR session (authorize_request_handler.go, authorizeRequestFromPAR).
type storedAuthorize struct {
	ResponseTypes       []string `json:"response_types,omitempty"`
	RedirectURI         string   `json:"redirect_uri,omitempty"`
	State               string   `json:"state,omitempty"`
	ResponseMode        string   `json:"response_mode,omitempty"`
	DefaultResponseMode string   `json:"default_response_mode,omitempty"`
}

// secretFormKeys are form parameters never persisted: client credentials are checked when the
// request arrives and a pushed authorization request would otherwise keep them.
var secretFormKeys = []string{"client_secret", "client_assertion"}

// record is one row of an oauth2_* table, ready to insert.
type record struct {
	signature   string // digest of fosite's signature
	requestID   string
	clientID    string
	subject     string
	requestedAt int64
	expiresAt   int64
	request     string // storedRequest JSON
}

// newRecord serializes req, with sess as its session, for the row keyed by sig; expiresAt is
// sess's expiry for tt (0 when the session records none).
func newRecord(sig string, req fosite.Requester, sess fosite.Session, tt fosite.TokenType) (record, error) {
	if req.GetClient() == nil {
		return record{}, errors.New("request has no client")
	}
	sr := storedRequest{
		ID:                req.GetID(),
		RequestedAt:       req.GetRequestedAt(),
		ClientID:          req.GetClient().GetID(),
		RequestedScopes:   req.GetRequestedScopes(),
		GrantedScopes:     req.GetGrantedScopes(),
		RequestedAudience: req.GetRequestedAudience(),
		GrantedAudience:   req.GetGrantedAudience(),
		Form:              req.GetRequestForm(),
	}
	for _, k := range secretFormKeys {
		if sr.Form.Has(k) {
			sr.Form = cloneForm(sr.Form)
			sr.Form.Del(k)
		}
	}
	if ar, ok := req.(fosite.AuthorizeRequester); ok {
		sr.Authorize = &storedAuthorize{
			ResponseTypes:       ar.GetResponseTypes(),
			State:               ar.GetState(),
			ResponseMode:        string(ar.GetResponseMode()),
			DefaultResponseMode: string(ar.GetDefaultResponseMode()),
		}
		if u := ar.GetRedirectURI(); u != nil {
			sr.Authorize.RedirectURI = u.String()
		}
	}
	rec := record{
		signature:   digest(sig),
		requestID:   sr.ID,
		clientID:    sr.ClientID,
		requestedAt: millis(sr.RequestedAt),
	}
	if sess != nil {
		b, err := json.Marshal(sess)
		if err != nil {
			return record{}, fmt.Errorf("encode session: %w", err)
		}
		sr.Session = b
		rec.subject = sess.GetSubject()
		rec.expiresAt = millis(sess.GetExpiresAt(tt))
	}
	b, err := json.Marshal(sr)
	if err != nil {
		return record{}, fmt.Errorf("encode request: %w", err)
	}
	rec.request = string(b)
	return rec, nil
}

func cloneForm(f url.Values) url.Values {
	c := make(url.Values, len(f))
	for k, v := range f {
		c[k] = v
	}
	return c
}

// insert stores rec in one of the tables whose columns are those of record.
func (s *Store) insert(ctx context.Context, table string, rec record) error {
	_, err := s.q(ctx).ExecContext(ctx, s.rebind(
		"INSERT INTO "+table+" (signature, request_id, client_id, subject, requested_at, expires_at, request) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?)"),
		rec.signature, rec.requestID, rec.clientID, rec.subject, rec.requestedAt, rec.expiresAt, rec.request)
	return err
}

// createRequest serializes and stores req under sig in table.
func (s *Store) createRequest(ctx context.Context, table, sig string, req fosite.Requester, tt fosite.TokenType) error {
	rec, err := newRecord(sig, req, req.GetSession(), tt)
	if err != nil {
		return fmt.Errorf("store %s: %w", table, err)
	}
	if err := s.insert(ctx, table, rec); err != nil {
		return fmt.Errorf("store %s: %w", table, storageErr(err))
	}
	return nil
}

// getRequest reads the request stored under sig in table, with its client, in one query. cols
// names further columns of the alias t (", t.active"), scanned into dest. The session is decoded
// into sess, or into a new idp.Session when sess is nil. An unknown signature, or a disabled
// client, is fosite.ErrNotFound.
func (s *Store) getRequest(ctx context.Context, table, sig string, sess fosite.Session, cols string, dest ...any) (fosite.Requester, error) {
	var raw []byte
	var clientID string
	err := s.q(ctx).QueryRowxContext(ctx, s.rebind(
		"SELECT t.request, t.client_id"+cols+" FROM "+table+" t WHERE t.signature = ?"),
		digest(sig)).Scan(append([]any{&raw, &clientID}, dest...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, storageErr(err))
	}
	// The client row goes with its tokens (ON DELETE CASCADE); a disabled client's tokens are dead.
	client, err := s.clients.get(ctx, clientID, s.readClient)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && client.Disabled) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read %s client: %w", table, storageErr(err))
	}
	req, err := decodeRequest(raw, client, sess)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", table, err)
	}
	return req, nil
}

// decodeRequest rebuilds a request from its JSON: a *fosite.AuthorizeRequest when it was stored
// from one, else a *fosite.Request.
func decodeRequest(raw []byte, client fosite.Client, sess fosite.Session) (fosite.Requester, error) {
	var sr storedRequest
	if err := json.Unmarshal(raw, &sr); err != nil {
		return nil, fmt.Errorf("decode request: %w", err)
	}
	if sess == nil {
		sess = idp.NewSession()
	}
	if len(sr.Session) > 0 {
		if err := json.Unmarshal(sr.Session, sess); err != nil {
			return nil, fmt.Errorf("decode session: %w", err)
		}
	}
	r := fosite.Request{
		ID:                sr.ID,
		RequestedAt:       sr.RequestedAt,
		Client:            client,
		RequestedScope:    nonNil(sr.RequestedScopes),
		GrantedScope:      nonNil(sr.GrantedScopes),
		RequestedAudience: nonNil(sr.RequestedAudience),
		GrantedAudience:   nonNil(sr.GrantedAudience),
		Form:              sr.Form,
		Session:           sess,
	}
	if r.Form == nil {
		r.Form = url.Values{} // fosite's Merge writes into it
	}
	if sr.Authorize == nil {
		return &r, nil
	}
	ar := &fosite.AuthorizeRequest{
		ResponseTypes:        nonNil(sr.Authorize.ResponseTypes),
		State:                sr.Authorize.State,
		HandledResponseTypes: fosite.Arguments{},
		ResponseMode:         fosite.ResponseModeType(sr.Authorize.ResponseMode),
		DefaultResponseMode:  fosite.ResponseModeType(sr.Authorize.DefaultResponseMode),
		Request:              r,
	}
	if sr.Authorize.RedirectURI != "" {
		u, err := url.Parse(sr.Authorize.RedirectURI)
		if err != nil {
			return nil, fmt.Errorf("decode redirect URI: %w", err)
		}
		ar.RedirectURI = u
	}
	return ar, nil
}

// nonNil returns l as fosite.Arguments, empty rather than nil, as fosite.NewRequest does.
func nonNil(l []string) fosite.Arguments {
	if l == nil {
		return fosite.Arguments{}
	}
	return l
}
