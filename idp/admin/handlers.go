package admin

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/policies"
)

// register lists every operation.
func (s *Server) register() {
	huma.Register(s.api, s.op("list-policies", http.MethodGet, "/policies", "The current policy: rules, role assignments and revision", 0), s.handleList)
	huma.Register(s.api, s.op("change-policies", http.MethodPost, "/policies", "Add and remove rules in one atomic batch", http.StatusCreated), s.handleChange)
	huma.Register(s.api, s.op("list-roles", http.MethodGet, "/roles", "The role assignments", 0), s.handleRoles)
	huma.Register(s.api, s.op("change-roles", http.MethodPost, "/roles", "Assign and unassign roles in one atomic batch", http.StatusCreated), s.handleRolesChange)
	huma.Register(s.api, s.op("check-policy", http.MethodPost, "/policies/check", "Dry run: may the subject do the action on the object, and which rule decided", 0), s.handleCheck)
	huma.Register(s.api, s.op("list-revisions", http.MethodGet, "/revisions", "The revisions, newest first", 0), s.handleRevisions)
	huma.Register(s.api, s.op("get-revision", http.MethodGet, "/revisions/{rev}", "One revision and its diff", 0, http.StatusNotFound), s.handleRevision)
	huma.Register(s.api, s.op("restore-revision", http.MethodPost, "/revisions/{rev}/restore", "Make the policy what it was at a revision, as a new revision", http.StatusCreated, http.StatusNotFound, http.StatusConflict), s.handleRestore)
}

// Revision is one change of the policy, as the API shows it.
type Revision struct {
	Number       int64           `json:"revision" doc:"The revision number"`
	Actor        string          `json:"actor" doc:"Who made the change: user:<sub>, client:<id>, cli:<os user> or migration"`
	Time         time.Time       `json:"time"`
	Comment      string          `json:"comment,omitempty"`
	Added        []policies.Rule `json:"added"`
	Removed      []policies.Rule `json:"removed"`
	RestoredFrom int64           `json:"restored_from,omitempty" doc:"The revision this one restored"`
	Diff         []string        `json:"diff" doc:"The change as CSV lines, '+ ' added and '- ' removed"`
}

func revisionOf(r policies.Revision) Revision {
	out := Revision{Number: r.Number, Actor: r.Actor, Time: r.Time, Comment: r.Comment, Added: r.Added, Removed: r.Removed,
		RestoredFrom: r.RestoredFrom, Diff: make([]string, 0, len(r.Added)+len(r.Removed))}
	for _, rule := range r.Removed {
		out.Diff = append(out.Diff, "- "+rule.String())
	}
	for _, rule := range r.Added {
		out.Diff = append(out.Diff, "+ "+rule.String())
	}
	return out
}

type revisionOutput struct {
	Location string `header:"Location"`
	Body     Revision
}

func created(r policies.Revision) *revisionOutput {
	return &revisionOutput{Location: Prefix + "/revisions/" + strconv.FormatInt(r.Number, 10), Body: revisionOf(r)}
}

type policyOutput struct {
	Body policies.Policy
}

func (s *Server) handleList(ctx context.Context, _ *struct{}) (*policyOutput, error) {
	p, err := s.cfg.Service.List(ctx)
	if err != nil {
		return nil, s.problem(ctx, err, nil)
	}
	return &policyOutput{Body: p}, nil
}

// ChangeBody is an atomic batch of rules.
type ChangeBody struct {
	Add     []policies.Rule `json:"add,omitempty" maxItems:"1000" doc:"Rules to add; each must be absent"`
	Remove  []policies.Rule `json:"remove,omitempty" maxItems:"1000" doc:"Rules to remove; each must be present"`
	Comment string          `json:"comment,omitempty" maxLength:"1000" doc:"Why, recorded with the revision"`
}

type changeInput struct {
	Body ChangeBody
}

func (s *Server) handleChange(ctx context.Context, in *changeInput) (*revisionOutput, error) {
	ch := policies.Change{Add: in.Body.Add, Remove: in.Body.Remove, Comment: in.Body.Comment}
	// Role assignments only through /admin/v1/roles, so that the two routes are two grants.
	var errs []error
	for _, l := range []struct {
		list  string
		rules []policies.Rule
	}{{"add", ch.Add}, {"remove", ch.Remove}} {
		list := l.list
		for i, r := range l.rules {
			if r.Type != policies.Permission {
				errs = append(errs, &huma.ErrorDetail{Location: "body." + list + "[" + strconv.Itoa(i) + "].type",
					Message: "this route takes permission rules (type p) only; assign and unassign roles with POST " + Prefix + "/roles", Value: r.Type})
			}
		}
	}
	if len(errs) > 0 {
		return nil, huma.Error422UnprocessableEntity("the change is invalid; nothing was saved", errs...)
	}
	return s.apply(ctx, ch, nil)
}

// apply saves ch as the caller's revision; the Service checks it against what the caller holds
// inside the transaction that writes it (policies.Escalation). names renames the lists of
// problems ("add" → "assign" for the roles endpoint).
func (s *Server) apply(ctx context.Context, ch policies.Change, names map[string]string) (*revisionOutput, error) {
	if len(ch.Add)+len(ch.Remove) > MaxBatch {
		return nil, huma.Error422UnprocessableEntity("a batch may add and remove at most " + strconv.Itoa(MaxBatch) + " rules")
	}
	rev, err := s.cfg.Service.ApplyAs(ctx, actor(ctx), ch)
	if err != nil {
		return nil, s.problem(ctx, err, names)
	}
	return created(rev), nil
}

// Assignment is one role of one subject.
type Assignment struct {
	Subject string `json:"subject" maxLength:"255" doc:"user:<id>, client:<id> or role:<name>"`
	Role    string `json:"role" maxLength:"70" doc:"role:<name>"`
}

type rolesInput struct {
	Subject string `query:"subject" maxLength:"255" doc:"Only the roles of this subject"`
	Role    string `query:"role" maxLength:"70" doc:"Only the subjects of this role"`
}

type rolesOutput struct {
	Body struct {
		Revision    int64        `json:"revision"`
		Assignments []Assignment `json:"assignments"`
	}
}

func (s *Server) handleRoles(ctx context.Context, in *rolesInput) (*rolesOutput, error) {
	p, err := s.cfg.Service.List(ctx)
	if err != nil {
		return nil, s.problem(ctx, err, nil)
	}
	out := &rolesOutput{}
	out.Body.Revision = p.Revision
	out.Body.Assignments = []Assignment{}
	for _, r := range p.Assignments {
		if (in.Subject == "" || r.Subject == in.Subject) && (in.Role == "" || r.Role == in.Role) {
			out.Body.Assignments = append(out.Body.Assignments, Assignment{Subject: r.Subject, Role: r.Role})
		}
	}
	return out, nil
}

// RolesBody is an atomic batch of role assignments.
type RolesBody struct {
	Assign   []Assignment `json:"assign,omitempty" maxItems:"1000" doc:"Roles to give; each must not be held yet"`
	Unassign []Assignment `json:"unassign,omitempty" maxItems:"1000" doc:"Roles to take away; each must be held"`
	Comment  string       `json:"comment,omitempty" maxLength:"1000"`
}

type rolesChangeInput struct {
	Body RolesBody
}

var roleLists = map[string]string{"add": "assign", "remove": "unassign"}

func (s *Server) handleRolesChange(ctx context.Context, in *rolesChangeInput) (*revisionOutput, error) {
	ch := policies.Change{Comment: in.Body.Comment}
	for _, a := range in.Body.Assign {
		ch.Add = append(ch.Add, policies.Assigning(a.Subject, a.Role))
	}
	for _, a := range in.Body.Unassign {
		ch.Remove = append(ch.Remove, policies.Assigning(a.Subject, a.Role))
	}
	return s.apply(ctx, ch, roleLists)
}

// CheckBody is a dry-run question.
type CheckBody struct {
	Subject string `json:"subject" maxLength:"255" doc:"user:<id>, client:<id> or role:<name>"`
	Object  string `json:"object" maxLength:"2048" doc:"A canonical request path, e.g. /api/v1/todos/42"`
	Action  string `json:"action" maxLength:"16" doc:"An HTTP method: GET, HEAD, POST, PUT, PATCH or DELETE"`
}

type checkInput struct {
	Body CheckBody
}

type checkOutput struct {
	Body policies.Decision
}

func (s *Server) handleCheck(ctx context.Context, in *checkInput) (*checkOutput, error) {
	b := in.Body
	// Input errors first, so that what Check still fails on is the server's.
	var errs []error
	if err := policies.Allowing(b.Subject, "/x", "GET").Validate(); err != nil {
		errs = append(errs, &huma.ErrorDetail{Location: "body.subject", Message: err.Error(), Value: b.Subject})
	}
	if _, err := policies.CanonicalPath(b.Object); err != nil {
		errs = append(errs, &huma.ErrorDetail{Location: "body.object", Message: err.Error(), Value: b.Object})
	}
	if b.Action == policies.AnyAction || !validAction(b.Action) {
		errs = append(errs, &huma.ErrorDetail{Location: "body.action", Message: "want one of GET HEAD POST PUT PATCH DELETE", Value: b.Action})
	}
	if len(errs) > 0 {
		return nil, huma.Error422UnprocessableEntity("the question is invalid", errs...)
	}
	d, err := s.cfg.Service.Check(ctx, b.Subject, b.Object, b.Action)
	if err != nil {
		return nil, s.problem(ctx, err, nil)
	}
	return &checkOutput{Body: d}, nil
}

func validAction(a string) bool {
	for _, x := range policies.Actions {
		if a == x {
			return true
		}
	}
	return false
}

type revisionsInput struct {
	Limit  int   `query:"limit" minimum:"1" maximum:"1000" default:"100" doc:"At most this many revisions"`
	Before int64 `query:"before" minimum:"0" doc:"Only revisions numbered below this (the next_before of the previous page)"`
}

type revisionsOutput struct {
	Body struct {
		Revisions  []Revision `json:"revisions"`
		NextBefore int64      `json:"next_before,omitempty" doc:"Pass as before for the next page; absent on the last page"`
	}
}

func (s *Server) handleRevisions(ctx context.Context, in *revisionsInput) (*revisionsOutput, error) {
	limit := in.Limit
	if limit == 0 {
		limit = 100
	}
	revs, err := s.cfg.Service.Revisions(ctx, limit, in.Before)
	if err != nil {
		return nil, s.problem(ctx, err, nil)
	}
	out := &revisionsOutput{}
	out.Body.Revisions = make([]Revision, 0, len(revs))
	for _, r := range revs {
		out.Body.Revisions = append(out.Body.Revisions, revisionOf(r))
	}
	if len(revs) == limit && revs[len(revs)-1].Number > 1 {
		out.Body.NextBefore = revs[len(revs)-1].Number
	}
	return out, nil
}

type revisionInput struct {
	Rev int64 `path:"rev" minimum:"1" doc:"The revision number"`
}

type getRevisionOutput struct {
	Body Revision
}

func (s *Server) handleRevision(ctx context.Context, in *revisionInput) (*getRevisionOutput, error) {
	r, err := s.cfg.Service.GetRevision(ctx, in.Rev)
	if err != nil {
		return nil, s.problem(ctx, err, nil)
	}
	return &getRevisionOutput{Body: revisionOf(r)}, nil
}

// RestoreBody says why a revision is restored.
type RestoreBody struct {
	Comment string `json:"comment,omitempty" maxLength:"1000"`
}

type restoreInput struct {
	Rev  int64        `path:"rev" minimum:"1"`
	Body *RestoreBody `required:"false"`
}

func (s *Server) handleRestore(ctx context.Context, in *restoreInput) (*revisionOutput, error) {
	comment := ""
	if in.Body != nil {
		comment = in.Body.Comment
	}
	// A restore is a change like any other: the Service checks the restoring change, computed
	// under its lock, against what the caller holds.
	rev, err := s.cfg.Service.RestoreAs(ctx, actor(ctx), in.Rev, comment)
	if err != nil {
		return nil, s.problem(ctx, err, nil)
	}
	return created(rev), nil
}

// details turns the problems of a change into huma error details: where (body.add[2]) and why.
func details(problems []policies.Problem, names map[string]string) []error {
	out := make([]error, 0, len(problems))
	for _, p := range problems {
		d := &huma.ErrorDetail{Location: "body", Message: p.Reason}
		if p.Index >= 0 && p.List != "" {
			list := p.List
			if n, ok := names[list]; ok {
				list = n
			}
			d.Location = "body." + list + "[" + strconv.Itoa(p.Index) + "]"
		}
		if p.Rule != nil {
			d.Message += " (" + p.Rule.String() + ")"
			d.Value = p.Rule
		}
		out = append(out, d)
	}
	return out
}

// problem is the one error responder of the API: it maps an error of the policies service to a
// problem+json status through one table. Unknown errors are logged with the request ID and
// answered 500 "internal error" with that ID, never the cause.
func (s *Server) problem(ctx context.Context, err error, names map[string]string) error {
	var se huma.StatusError
	var ve *policies.ValidationError
	var ee *policies.EscalationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return se
	case errors.As(err, &ee):
		return huma.NewError(http.StatusForbidden, "the change exceeds what "+ee.Caller+" holds; nothing was saved", details(ee.Problems, names)...)
	case errors.As(err, &ve):
		return huma.Error422UnprocessableEntity("the change is invalid; nothing was saved", details(ve.Problems, names)...)
	case errors.Is(err, policies.ErrNotFound):
		return huma.Error404NotFound("no such revision")
	case errors.Is(err, policies.ErrNoChange):
		return huma.Error409Conflict("the policy already is as asked; no revision was made")
	}
	id := web.GetRequestID(ctx)
	s.log.ErrorContext(ctx, "admin: request failed", "request_id", id, "err", err)
	return huma.Error500InternalServerError("internal error (request id " + id + ")")
}
