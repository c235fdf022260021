package resource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Errors a Store returns, wrapped; test them with errors.Is.
var (
	// ErrNotFound: no such object for this owner (it may exist for another owner).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object would break a uniqueness rule (a category name already taken).
	ErrConflict = errors.New("conflict")
	// ErrPrecondition: the stored version differs from the one the caller read (a stale ETag).
	ErrPrecondition = errors.New("version mismatch")
	// ErrInvalid: the input breaks a validation rule. The error also holds one ValidationError
	// per problem (find them with errors.As, or walk the errors.Join tree).
	ErrInvalid = errors.New("invalid input")
)

// ValidationError is one field's problem. It matches ErrInvalid under errors.Is.
type ValidationError struct {
	Field   string // the JSON field name: "title", "categoryIds", "cursor", …
	Message string // for the client: "must be at most 200 characters"
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Unwrap makes errors.Is(e, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ValidationErrors returns every ValidationError in err (errors.Join trees included), in order.
func ValidationErrors(err error) []*ValidationError {
	var out []*ValidationError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if v, ok := err.(*ValidationError); ok {
			out = append(out, v)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// Limits of the validation rules.
const (
	MaxTitleLength        = 200   // characters of Todo.Title
	MaxNotesLength        = 10000 // characters of Todo.Notes
	MaxCategoriesPerTodo  = 20    // entries of Todo.CategoryIDs
	MaxCategoryNameLength = 100   // characters of Category.Name
	DefaultLimit          = 50    // page size when a query gives none
	MaxLimit              = 100   // largest page size
)

// AnyVersion as the ifVersion of an update or delete skips the version check. The HTTP layer
// should pass the If-Match version instead whenever it has one.
const AnyVersion int64 = 0

// Todo is one item of a user's list.
type Todo struct {
	ID          string
	OwnerID     string
	Title       string     // 1 to MaxTitleLength characters, not only spaces
	Notes       string     // at most MaxNotesLength characters
	Done        bool       //
	DueAt       *time.Time // nil: no due date; stored to the millisecond
	CategoryIDs []string   // the owner's categories, sorted, without duplicates
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64 // 1 on creation, +1 on every change; the ETag
}

// Validate checks the fields a client sets and returns every problem at once, joined. It
// normalizes nothing; the Store sorts and de-duplicates CategoryIDs.
func (t *Todo) Validate() error {
	var errs []error
	switch n := utf8.RuneCountInString(t.Title); {
	case strings.TrimSpace(t.Title) == "":
		errs = append(errs, Invalid("title", "must not be empty"))
	case n > MaxTitleLength:
		errs = append(errs, Invalid("title", "must be at most %d characters, not %d", MaxTitleLength, n))
	case !utf8.ValidString(t.Title):
		errs = append(errs, Invalid("title", "must be valid UTF-8"))
	}
	if n := utf8.RuneCountInString(t.Notes); n > MaxNotesLength {
		errs = append(errs, Invalid("notes", "must be at most %d characters, not %d", MaxNotesLength, n))
	} else if !utf8.ValidString(t.Notes) {
		errs = append(errs, Invalid("notes", "must be valid UTF-8"))
	}
	if n := len(t.CategoryIDs); n > MaxCategoriesPerTodo {
		errs = append(errs, Invalid("categoryIds", "at most %d categories per todo, not %d", MaxCategoriesPerTodo, n))
	}
	for _, id := range t.CategoryIDs {
		if id == "" {
			errs = append(errs, Invalid("categoryIds", "must not contain an empty id"))
			break
		}
	}
	return errors.Join(errs...)
}

// Category is a user's label for todos. Its name is unique per owner, ignoring case.
type Category struct {
	ID        string
	OwnerID   string
	Name      string // 1 to MaxCategoryNameLength characters
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// Validate checks the fields a client sets.
func (c *Category) Validate() error {
	switch n := utf8.RuneCountInString(c.Name); {
	case strings.TrimSpace(c.Name) == "":
		return Invalid("name", "must not be empty")
	case n > MaxCategoryNameLength:
		return Invalid("name", "must be at most %d characters, not %d", MaxCategoryNameLength, n)
	case !utf8.ValidString(c.Name):
		return Invalid("name", "must be valid UTF-8")
	}
	return nil
}

// CategoryKey is the uniqueness key of a category name: NFKC, trimmed, lower case.
func CategoryKey(name string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFKC.String(name)))
}

// TodoSort names a sort key of ListTodos. Only these values are accepted.
type TodoSort string

// The sort keys of ListTodos. Ties are broken by ID in the same direction.
const (
	SortCreatedAt TodoSort = "created_at" // the default
	SortDueAt     TodoSort = "due_at"     // todos without a due date come last ascending, first descending
	SortTitle     TodoSort = "title"      // in the database's collation
)

// ListTodosQuery selects a page of one owner's todos. Zero fields do not filter.
type ListTodosQuery struct {
	OwnerID    string
	Done       *bool
	CategoryID string     // only todos that have this category
	DueBefore  *time.Time // due_at < DueBefore (todos without a due date never match)
	DueAfter   *time.Time // due_at > DueAfter
	Text       string     // case-insensitive substring of the title or the notes; % and _ are literal
	Sort       TodoSort   // "" is SortCreatedAt
	Desc       bool
	Limit      int    // 1..MaxLimit; 0 is DefaultLimit
	After      string // the cursor a previous page returned; "" for the first page
}

// AllTodosQuery selects a page of every owner's todos, in creation order (created_at, then id):
// the admin view.
type AllTodosQuery struct {
	Limit int    // 1..MaxLimit; 0 is DefaultLimit
	After string // the cursor a previous page returned; "" for the first page
}

// ListCategoriesQuery selects a page of one owner's categories, ordered by name ignoring case.
type ListCategoriesQuery struct {
	OwnerID string
	Limit   int    // 1..MaxLimit; 0 is DefaultLimit
	After   string // the cursor a previous page returned; "" for the first page
}

// Store is everything the resource API persists. sqlstore implements it; storetest checks it.
//
// Every method takes the acting owner; an object of another owner is ErrNotFound. Create methods
// assign ID, OwnerID, CreatedAt, UpdatedAt and Version (1) and ignore what the caller put there.
// Update methods read the object, return ErrPrecondition if its version is not ifVersion (unless
// ifVersion is AnyVersion), call fn on a copy, validate the result and write it with Version+1,
// all in one transaction: of concurrent updates with the same ifVersion exactly one succeeds,
// and the others get ErrPrecondition (so may an AnyVersion update that loses such a race).
// fn may change only the client-settable fields; an error from fn is returned unchanged.
// Invalid input is ErrInvalid with a ValidationError per problem, and nothing is written.
type Store interface {
	// CreateTodo stores a new todo of owner. Every id in t.CategoryIDs must be a category of
	// owner, else ErrInvalid (field "categoryIds").
	CreateTodo(ctx context.Context, owner string, t Todo) (Todo, error)
	// GetTodo returns owner's todo id, with its category ids.
	GetTodo(ctx context.Context, owner, id string) (Todo, error)
	// ListTodos returns a page of q.OwnerID's todos with their category ids in keyset order, and
	// the cursor of the next page ("" after the last page). A cursor not made by this store for
	// this owner and sort order is ErrInvalid (field "cursor"). A page costs two queries.
	ListTodos(ctx context.Context, q ListTodosQuery) (page []Todo, next string, err error)
	// ListAllTodos returns a page of every owner's todos (OwnerID set) with their category ids
	// in creation order, and the next cursor. It is the admin view and takes no owner: the
	// caller must have authorized it (the HTTP layer opens it only on an explicit policy grant).
	// A cursor of another list is ErrInvalid (field "cursor"). A page costs two queries.
	ListAllTodos(ctx context.Context, q AllTodosQuery) (page []Todo, next string, err error)
	// UpdateTodo changes owner's todo id through fn, see Store.
	UpdateTodo(ctx context.Context, owner, id string, ifVersion int64, fn func(*Todo) error) (Todo, error)
	// DeleteTodo deletes owner's todo id if its version is ifVersion.
	DeleteTodo(ctx context.Context, owner, id string, ifVersion int64) error

	// CreateCategory stores a new category of owner; a name owner already uses, ignoring case,
	// is ErrConflict.
	CreateCategory(ctx context.Context, owner string, c Category) (Category, error)
	// GetCategory returns owner's category id.
	GetCategory(ctx context.Context, owner, id string) (Category, error)
	// ListCategories returns a page of q.OwnerID's categories and the next cursor, as ListTodos.
	ListCategories(ctx context.Context, q ListCategoriesQuery) (page []Category, next string, err error)
	// UpdateCategory renames owner's category id through fn, see Store.
	UpdateCategory(ctx context.Context, owner, id string, ifVersion int64, fn func(*Category) error) (Category, error)
	// DeleteCategory deletes owner's category id if its version is ifVersion, removes it from
	// every todo and increments those todos' versions (their ETags change).
	DeleteCategory(ctx context.Context, owner, id string, ifVersion int64) error
}
