package idp

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// The connected-apps page (CO-05): a signed-in user sees the applications she allowed and can
// take that back. Revoking deletes the consent, so the next authorization asks again, and ends
// the client's access at once: its refresh tokens are revoked, its access tokens deleted (they
// introspect inactive and userinfo refuses them) and its unredeemed codes voided. A JWT access
// token that a resource server only verifies offline stays valid there until it expires.

// appView is one connected application as the page shows it.
type appView struct {
	ClientID, Name      string
	Granted, GrantedISO string
	Changed             string // when the consent was last saved; "" if the same day
	Scopes              []appScope
	Audiences           []string
}

// appScope is a granted scope in the words of the consent page.
type appScope struct{ Name, Description string }

const dateLayout = "2 January 2006"

// handleAppsPage lists the applications the signed-in user consented to, each with a button
// that revokes its access. ?revoked=1 adds the confirmation, whatever was revoked. Signed out,
// the browser goes to /login without return_to, as for /password: a login returns only to the
// authorization endpoint (safeReturnTo, SE-07), and lands on the home page, which links here.
func (s *Server) handleAppsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := s.signedIn(w, r)
	if u == nil {
		return
	}
	apps, err := s.connectedApps(ctx, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "apps.html", map[string]any{
		"Title": "Connected apps", "Email": u.Email, "Apps": apps,
		"Revoked": r.URL.Query().Get("revoked") == "1", "CSRF": s.csrfToken(w, r),
	})
}

// connectedApps returns the user's consents with their clients' names, oldest first.
func (s *Server) connectedApps(ctx context.Context, userID string) ([]appView, error) {
	consents, err := s.store.ListConsents(ctx, userID)
	if err != nil {
		return nil, err
	}
	apps := make([]appView, 0, len(consents))
	for _, c := range consents {
		client, err := s.store.GetClientByID(ctx, c.ClientID)
		if errors.Is(err, ErrNotFound) { // deleted since the list was read: its consent went too
			continue
		}
		if err != nil {
			return nil, err
		}
		a := appView{
			ClientID: c.ClientID, Name: client.Name, Audiences: c.Audiences,
			Granted: c.CreatedAt.UTC().Format(dateLayout), GrantedISO: c.CreatedAt.UTC().Format(time.RFC3339),
		}
		if changed := c.UpdatedAt.UTC().Format(dateLayout); changed != a.Granted {
			a.Changed = changed
		}
		for _, sc := range c.Scopes {
			a.Scopes = append(a.Scopes, appScope{sc, scopeDescription(sc)})
		}
		apps = append(apps, a)
	}
	return apps, nil
}

// handleAppsRevoke withdraws the signed-in user's consent to one client and, in the same
// transaction, every token and code the client holds for her. The answer is the same 303 to the
// confirmation whether or not the client exists or had her consent, so the form tells nothing
// about other clients.
func (s *Server) handleAppsRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u := s.signedIn(w, r)
	if u == nil {
		return
	}
	if !s.readForm(w, r) {
		return
	}
	ids := r.PostForm["client_id"]
	if len(ids) != 1 || !ValidID(ids[0]) {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form did not name one application. Go back to Connected apps and try again.", "invalid_request")
		return
	}
	err := s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.RevokeSubjectClientTokens(ctx, u.ID, ids[0]); err != nil {
			return err
		}
		if err := s.store.DeleteConsent(ctx, u.ID, ids[0]); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/apps?revoked=1", http.StatusSeeOther)
}
