package resource

import (
	"context"
	"encoding/json"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// TodoBody is a todo as the API shows it.
type TodoBody struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Notes       string     `json:"notes"`
	Done        bool       `json:"done"`
	DueAt       *time.Time `json:"dueAt" nullable:"true"`
	CategoryIDs []string   `json:"categoryIds"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
	Version     int64      `json:"version" doc:"Changes on every write; the ETag is this number in quotes"`
}

func todoBody(t Todo) TodoBody {
	ids := t.CategoryIDs
	if ids == nil {
		ids = []string{}
	}
	return TodoBody{ID: t.ID, Title: t.Title, Notes: t.Notes, Done: t.Done, DueAt: t.DueAt,
		CategoryIDs: ids, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, Version: t.Version}
}

// TodoInput is the body of POST and PUT: every client-settable field; an absent one is empty.
type TodoInput struct {
	Title       string     `json:"title" minLength:"1" maxLength:"200"`
	Notes       string     `json:"notes,omitempty" maxLength:"10000"`
	Done        bool       `json:"done,omitempty"`
	DueAt       *time.Time `json:"dueAt,omitempty" nullable:"true"`
	CategoryIDs []string   `json:"categoryIds,omitempty" maxItems:"20"`
}

func (in TodoInput) apply(t *Todo) {
	t.Title, t.Notes, t.Done, t.DueAt, t.CategoryIDs = in.Title, in.Notes, in.Done, in.DueAt, in.CategoryIDs
}

// TodoPatch is the body of PATCH (JSON merge patch semantics): absent fields stay, dueAt null
// clears the due date.
type TodoPatch struct {
	Title       *string      `json:"title,omitempty" minLength:"1" maxLength:"200"`
	Notes       *string      `json:"notes,omitempty" maxLength:"10000"`
	Done        *bool        `json:"done,omitempty"`
	DueAt       OptionalTime `json:"dueAt,omitempty"`
	CategoryIDs *[]string    `json:"categoryIds,omitempty" maxItems:"20"`
}

// OptionalTime is a date-time field of a patch that tells absent from null.
type OptionalTime struct {
	Set   bool       // the field was present
	Value *time.Time // nil: null
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *OptionalTime) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Value = nil
		return nil
	}
	var t time.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	o.Value = &t
	return nil
}

// Schema implements huma.SchemaProvider: a nullable date-time.
func (OptionalTime) Schema(r huma.Registry) *huma.Schema {
	s := *r.Schema(reflect.TypeFor[time.Time](), true, "")
	s.Nullable = true
	return &s
}

type todoOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     TodoBody
}

func todoOut(t Todo) *todoOutput {
	return &todoOutput{ETag: etag(t.Version), Body: todoBody(t)}
}

type todoListInput struct {
	Done      string    `query:"done" enum:"true,false" doc:"Only done (true) or open (false) todos"`
	Category  string    `query:"category" doc:"Only todos that have this category id"`
	DueBefore time.Time `query:"due_before" doc:"Only todos due before this instant"`
	DueAfter  time.Time `query:"due_after" doc:"Only todos due after this instant"`
	Q         string    `query:"q" maxLength:"200" doc:"Case-insensitive text in the title or the notes"`
	Sort      string    `query:"sort" enum:"created_at,due_at,title" default:"created_at"`
	Desc      bool      `query:"desc"`
	Limit     int       `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor    string    `query:"cursor" maxLength:"1024" doc:"The next_cursor of the previous page"`
}

type todoListOutput struct {
	Body struct {
		Items      []TodoBody `json:"items"`
		NextCursor string     `json:"next_cursor" doc:"Empty after the last page"`
	}
}

type idInput struct {
	ID string `path:"id" maxLength:"100"`
}

type ifMatchInput struct {
	ID      string `path:"id" maxLength:"100"`
	IfMatch string `header:"If-Match" doc:"The ETag read (required; * skips the check)"`
}

func (s *Server) handleTodoList(ctx context.Context, in *todoListInput) (*todoListOutput, error) {
	q := ListTodosQuery{OwnerID: owner(ctx), CategoryID: in.Category, Text: in.Q,
		Sort: TodoSort(in.Sort), Desc: in.Desc, Limit: in.Limit, After: in.Cursor}
	if in.Done != "" {
		done := in.Done == "true"
		q.Done = &done
	}
	if !in.DueBefore.IsZero() {
		q.DueBefore = &in.DueBefore
	}
	if !in.DueAfter.IsZero() {
		q.DueAfter = &in.DueAfter
	}
	page, next, err := s.st.ListTodos(ctx, q)
	if err != nil {
		return nil, s.problem(ctx, "todo", err)
	}
	out := &todoListOutput{}
	out.Body.Items = make([]TodoBody, 0, len(page))
	for _, t := range page {
		out.Body.Items = append(out.Body.Items, todoBody(t))
	}
	out.Body.NextCursor = next
	return out, nil
}

func (s *Server) handleTodoCreate(ctx context.Context, in *struct{ Body TodoInput }) (*todoOutput, error) {
	var t Todo
	in.Body.apply(&t)
	t, err := s.st.CreateTodo(ctx, owner(ctx), t)
	if err != nil {
		return nil, s.problem(ctx, "todo", err)
	}
	out := todoOut(t)
	out.Location = apiPrefix + "/todos/" + t.ID
	return out, nil
}

func (s *Server) handleTodoGet(ctx context.Context, in *idInput) (*todoOutput, error) {
	t, err := s.st.GetTodo(ctx, owner(ctx), in.ID)
	if err != nil {
		return nil, s.problem(ctx, "todo", err)
	}
	return todoOut(t), nil
}

func (s *Server) updateTodo(ctx context.Context, id, ifMatch string, fn func(*Todo)) (*todoOutput, error) {
	v, err := ifVersion(ifMatch, "todo")
	if err != nil {
		return nil, err
	}
	t, err := s.st.UpdateTodo(ctx, owner(ctx), id, v, func(t *Todo) error { fn(t); return nil })
	if err != nil {
		return nil, s.problem(ctx, "todo", err)
	}
	return todoOut(t), nil
}

func (s *Server) handleTodoPut(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"100"`
	IfMatch string `header:"If-Match" doc:"The ETag read (required; * skips the check)"`
	Body    TodoInput
}) (*todoOutput, error) {
	return s.updateTodo(ctx, in.ID, in.IfMatch, in.Body.apply)
}

func (s *Server) handleTodoPatch(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"100"`
	IfMatch string `header:"If-Match" doc:"The ETag read (required; * skips the check)"`
	Body    TodoPatch
}) (*todoOutput, error) {
	p := in.Body
	return s.updateTodo(ctx, in.ID, in.IfMatch, func(t *Todo) {
		if p.Title != nil {
			t.Title = *p.Title
		}
		if p.Notes != nil {
			t.Notes = *p.Notes
		}
		if p.Done != nil {
			t.Done = *p.Done
		}
		if p.DueAt.Set {
			t.DueAt = p.DueAt.Value
		}
		if p.CategoryIDs != nil {
			t.CategoryIDs = *p.CategoryIDs
		}
	})
}

func (s *Server) handleTodoDelete(ctx context.Context, in *ifMatchInput) (*struct{}, error) {
	v, err := ifVersion(in.IfMatch, "todo")
	if err != nil {
		return nil, err
	}
	if err := s.st.DeleteTodo(ctx, owner(ctx), in.ID, v); err != nil {
		return nil, s.problem(ctx, "todo", err)
	}
	return nil, nil
}

// AdminTodoBody is a todo in the admin view: with its owner.
type AdminTodoBody struct {
	OwnerID string `json:"ownerId" doc:"The sub of the user who owns the todo"`
	TodoBody
}

type adminTodoListInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"1024" doc:"The next_cursor of the previous page"`
}

type adminTodoListOutput struct {
	Body struct {
		Items      []AdminTodoBody `json:"items"`
		NextCursor string          `json:"next_cursor" doc:"Empty after the last page"`
	}
}

// handleAdminTodoList is the admin view; guard has let only a policy grant through.
func (s *Server) handleAdminTodoList(ctx context.Context, in *adminTodoListInput) (*adminTodoListOutput, error) {
	page, next, err := s.st.ListAllTodos(ctx, AllTodosQuery{Limit: in.Limit, After: in.Cursor})
	if err != nil {
		return nil, s.problem(ctx, "todo", err)
	}
	out := &adminTodoListOutput{}
	out.Body.Items = make([]AdminTodoBody, 0, len(page))
	for _, t := range page {
		out.Body.Items = append(out.Body.Items, AdminTodoBody{OwnerID: t.OwnerID, TodoBody: todoBody(t)})
	}
	out.Body.NextCursor = next
	return out, nil
}
