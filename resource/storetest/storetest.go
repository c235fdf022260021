package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/resource"
)

// Factory returns a new, empty store. Each call must use a database of its own and a cursor key
// of its own (random), so that a cursor of one store is foreign to another. It should register
// any cleanup with t.
type Factory func(t *testing.T) resource.Store

// Owners the tests act as.
const (
	alice = "user-alice"
	bob   = "user-bob"
)

type test struct {
	name string
	run  func(t *testing.T, newStore Factory)
}

var tests = []test{
	{"TodoCRUD", testTodoCRUD},
	{"CategoryCRUD", testCategoryCRUD},
	{"OwnerIsolation", testOwnerIsolation},
	{"StaleVersion", testStaleVersion},
	{"CategoryOwnership", testCategoryOwnership},
	{"DeleteCategoryUnlinks", testDeleteCategoryUnlinks},
	{"Validation", testValidation},
	{"QueryValidation", testQueryValidation},
	{"Filters", testFilters},
	{"Pagination", testPagination},
	{"CategoryPagination", testCategoryPagination},
	{"Cursors", testCursors},
	{"ListAllTodos", testListAllTodos},
	{"ConcurrentUpdate", testConcurrentUpdate},
	{"ConcurrentCategoryDelete", testConcurrentCategoryDelete},
}

// Run runs the conformance suite, each test on stores of its own.
func Run(t *testing.T, newStore Factory) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore) })
	}
}

func ptr[T any](v T) *T { return &v }

func createTodo(t *testing.T, s resource.Store, owner string, td resource.Todo) resource.Todo {
	t.Helper()
	got, err := s.CreateTodo(t.Context(), owner, td)
	if err != nil {
		t.Fatalf("CreateTodo(%s, %q) = %v", owner, td.Title, err)
	}
	return got
}

func createCategory(t *testing.T, s resource.Store, owner, name string) resource.Category {
	t.Helper()
	got, err := s.CreateCategory(t.Context(), owner, resource.Category{Name: name})
	if err != nil {
		t.Fatalf("CreateCategory(%s, %q) = %v", owner, name, err)
	}
	return got
}

func getTodo(t *testing.T, s resource.Store, owner, id string) resource.Todo {
	t.Helper()
	got, err := s.GetTodo(t.Context(), owner, id)
	if err != nil {
		t.Fatalf("GetTodo(%s, %s) = %v", owner, id, err)
	}
	return got
}

// sameTodo reports how got differs from want ("" if not at all).
func sameTodo(got, want resource.Todo) string {
	var d []string
	if got.ID != want.ID || got.OwnerID != want.OwnerID {
		d = append(d, fmt.Sprintf("id/owner %s/%s, want %s/%s", got.ID, got.OwnerID, want.ID, want.OwnerID))
	}
	if got.Title != want.Title || got.Notes != want.Notes || got.Done != want.Done {
		d = append(d, fmt.Sprintf("title/notes/done %q/%q/%v, want %q/%q/%v", got.Title, got.Notes, got.Done, want.Title, want.Notes, want.Done))
	}
	if (got.DueAt == nil) != (want.DueAt == nil) || got.DueAt != nil && !got.DueAt.Equal(*want.DueAt) {
		d = append(d, fmt.Sprintf("due %v, want %v", got.DueAt, want.DueAt))
	}
	if !slices.Equal(got.CategoryIDs, want.CategoryIDs) {
		d = append(d, fmt.Sprintf("categories %v, want %v", got.CategoryIDs, want.CategoryIDs))
	}
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || got.Version != want.Version {
		d = append(d, fmt.Sprintf("created/updated/version %v/%v/%d, want %v/%v/%d",
			got.CreatedAt, got.UpdatedAt, got.Version, want.CreatedAt, want.UpdatedAt, want.Version))
	}
	return strings.Join(d, "; ")
}

func testTodoCRUD(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	work := createCategory(t, s, alice, "Work")
	home := createCategory(t, s, alice, "Home")
	due := time.Date(2030, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	before := time.Now().Add(-time.Second)
	td := createTodo(t, s, alice, resource.Todo{
		ID: "chosen-by-caller", OwnerID: bob, Version: 42, // ignored
		Title: "Write the store", Notes: "with tests", DueAt: &due,
		CategoryIDs: []string{work.ID, home.ID, work.ID},
	})
	wantCats := []string{work.ID, home.ID}
	slices.Sort(wantCats)
	switch {
	case td.ID == "" || td.ID == "chosen-by-caller":
		t.Errorf("created ID %q, want one chosen by the store", td.ID)
	case td.OwnerID != alice || td.Version != 1:
		t.Errorf("created owner %q version %d, want %q 1", td.OwnerID, td.Version, alice)
	case td.CreatedAt.Before(before) || !td.UpdatedAt.Equal(td.CreatedAt):
		t.Errorf("created at %v updated at %v, want now and equal", td.CreatedAt, td.UpdatedAt)
	case !slices.Equal(td.CategoryIDs, wantCats):
		t.Errorf("categories %v, want %v (sorted, without duplicates)", td.CategoryIDs, wantCats)
	case !td.DueAt.Equal(due.Truncate(time.Millisecond)):
		t.Errorf("due %v, want %v (to the millisecond)", td.DueAt, due.Truncate(time.Millisecond))
	}
	if d := sameTodo(getTodo(t, s, alice, td.ID), td); d != "" {
		t.Errorf("GetTodo after create: %s", d)
	}

	upd, err := s.UpdateTodo(ctx, alice, td.ID, td.Version, func(x *resource.Todo) error {
		x.Title, x.Done, x.DueAt, x.CategoryIDs = "Written", true, nil, []string{home.ID}
		x.OwnerID, x.Version, x.ID = bob, 99, "other" // ignored
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateTodo = %v", err)
	}
	want := td
	want.Title, want.Done, want.DueAt, want.CategoryIDs, want.Version, want.UpdatedAt = "Written", true, nil, []string{home.ID}, 2, upd.UpdatedAt
	if d := sameTodo(upd, want); d != "" {
		t.Errorf("UpdateTodo returned: %s", d)
	}
	if d := sameTodo(getTodo(t, s, alice, td.ID), want); d != "" {
		t.Errorf("GetTodo after update: %s", d)
	}

	errFn := errors.New("caller says no")
	if _, err := s.UpdateTodo(ctx, alice, td.ID, 2, func(x *resource.Todo) error { x.Title = "no"; return errFn }); !errors.Is(err, errFn) {
		t.Errorf("UpdateTodo with failing fn = %v, want %v", err, errFn)
	}
	if got := getTodo(t, s, alice, td.ID); got.Title != "Written" || got.Version != 2 {
		t.Errorf("after failing fn: title %q version %d, want unchanged", got.Title, got.Version)
	}
	if _, err := s.UpdateTodo(ctx, alice, td.ID, resource.AnyVersion, func(x *resource.Todo) error { x.Notes = "any"; return nil }); err != nil {
		t.Errorf("UpdateTodo with AnyVersion = %v", err)
	}

	if err := s.DeleteTodo(ctx, alice, td.ID, 3); err != nil {
		t.Fatalf("DeleteTodo = %v", err)
	}
	for name, err := range map[string]error{
		"get": func() error { _, err := s.GetTodo(ctx, alice, td.ID); return err }(),
		"update": func() error {
			_, err := s.UpdateTodo(ctx, alice, td.ID, 3, func(*resource.Todo) error { return nil })
			return err
		}(),
		"delete": s.DeleteTodo(ctx, alice, td.ID, 3),
	} {
		if !errors.Is(err, resource.ErrNotFound) {
			t.Errorf("%s after delete = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.GetCategory(ctx, alice, home.ID); err != nil {
		t.Errorf("GetCategory after deleting a todo of it = %v, want the category kept", err)
	}
}

func testCategoryCRUD(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	c := createCategory(t, s, alice, "Errands")
	if c.ID == "" || c.OwnerID != alice || c.Version != 1 || c.Name != "Errands" {
		t.Errorf("created %+v, want an id, owner %s, version 1, the name", c, alice)
	}
	got, err := s.GetCategory(ctx, alice, c.ID)
	if err != nil || got != c {
		t.Errorf("GetCategory = %+v, %v; want %+v", got, err, c)
	}
	for _, name := range []string{"Errands", "errands", "  ERRANDS "} {
		if _, err := s.CreateCategory(ctx, alice, resource.Category{Name: name}); !errors.Is(err, resource.ErrConflict) {
			t.Errorf("CreateCategory(%q) with Errands taken = %v, want ErrConflict", name, err)
		}
	}
	if _, err := s.CreateCategory(ctx, bob, resource.Category{Name: "Errands"}); err != nil {
		t.Errorf("CreateCategory for another owner with the same name = %v, want nil", err)
	}
	other := createCategory(t, s, alice, "Shopping")
	if _, err := s.UpdateCategory(ctx, alice, other.ID, 1, func(c *resource.Category) error { c.Name = "ERRANDS"; return nil }); !errors.Is(err, resource.ErrConflict) {
		t.Errorf("renaming onto a taken name = %v, want ErrConflict", err)
	}
	upd, err := s.UpdateCategory(ctx, alice, c.ID, 1, func(c *resource.Category) error { c.Name = "errands"; return nil })
	if err != nil || upd.Name != "errands" || upd.Version != 2 {
		t.Errorf("renaming to another case = %+v, %v; want name errands, version 2", upd, err)
	}
	if err := s.DeleteCategory(ctx, alice, c.ID, 1); !errors.Is(err, resource.ErrPrecondition) {
		t.Errorf("DeleteCategory with stale version = %v, want ErrPrecondition", err)
	}
	if err := s.DeleteCategory(ctx, alice, c.ID, 2); err != nil {
		t.Errorf("DeleteCategory = %v", err)
	}
	if _, err := s.GetCategory(ctx, alice, c.ID); !errors.Is(err, resource.ErrNotFound) {
		t.Errorf("GetCategory after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateCategory(ctx, alice, resource.Category{Name: "Errands"}); err != nil {
		t.Errorf("CreateCategory with a deleted category's name = %v, want nil", err)
	}
}

func testOwnerIsolation(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	cat := createCategory(t, s, alice, "Private")
	td := createTodo(t, s, alice, resource.Todo{Title: "alice's secret", CategoryIDs: []string{cat.ID}})
	noop := func(*resource.Todo) error { return nil }
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"GetTodo", func() error { _, err := s.GetTodo(ctx, bob, td.ID); return err }()},
		{"UpdateTodo", func() error { _, err := s.UpdateTodo(ctx, bob, td.ID, td.Version, noop); return err }()},
		{"UpdateTodo any version", func() error { _, err := s.UpdateTodo(ctx, bob, td.ID, resource.AnyVersion, noop); return err }()},
		{"DeleteTodo", s.DeleteTodo(ctx, bob, td.ID, td.Version)},
		{"GetCategory", func() error { _, err := s.GetCategory(ctx, bob, cat.ID); return err }()},
		{"UpdateCategory", func() error {
			_, err := s.UpdateCategory(ctx, bob, cat.ID, cat.Version, func(*resource.Category) error { return nil })
			return err
		}()},
		{"DeleteCategory", s.DeleteCategory(ctx, bob, cat.ID, cat.Version)},
	} {
		if !errors.Is(tt.err, resource.ErrNotFound) {
			t.Errorf("%s of alice's object as bob = %v, want ErrNotFound", tt.name, tt.err)
		}
	}
	if page, _, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: bob}); err != nil || len(page) != 0 {
		t.Errorf("ListTodos(bob) = %d todos, %v; want none", len(page), err)
	}
	if page, _, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: bob, CategoryID: cat.ID}); err != nil || len(page) != 0 {
		t.Errorf("ListTodos(bob, alice's category) = %d todos, %v; want none", len(page), err)
	}
	if page, _, err := s.ListCategories(ctx, resource.ListCategoriesQuery{OwnerID: bob}); err != nil || len(page) != 0 {
		t.Errorf("ListCategories(bob) = %d categories, %v; want none", len(page), err)
	}
	if got := getTodo(t, s, alice, td.ID); sameTodo(got, td) != "" {
		t.Errorf("alice's todo changed by bob's attempts: %s", sameTodo(got, td))
	}
	if _, err := s.GetCategory(ctx, alice, cat.ID); err != nil {
		t.Errorf("alice's category after bob's attempts: %v", err)
	}
}

func testStaleVersion(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	td := createTodo(t, s, alice, resource.Todo{Title: "v1"})
	td, err := s.UpdateTodo(ctx, alice, td.ID, 1, func(x *resource.Todo) error { x.Title = "v2"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	called := false
	for _, stale := range []int64{1, 3, -1} {
		_, err := s.UpdateTodo(ctx, alice, td.ID, stale, func(x *resource.Todo) error { called = true; x.Title = "lost"; return nil })
		if !errors.Is(err, resource.ErrPrecondition) {
			t.Errorf("UpdateTodo(version %d) of version 2 = %v, want ErrPrecondition", stale, err)
		}
		if err := s.DeleteTodo(ctx, alice, td.ID, stale); !errors.Is(err, resource.ErrPrecondition) {
			t.Errorf("DeleteTodo(version %d) of version 2 = %v, want ErrPrecondition", stale, err)
		}
	}
	if called {
		t.Error("UpdateTodo called fn despite a stale version")
	}
	if d := sameTodo(getTodo(t, s, alice, td.ID), td); d != "" {
		t.Errorf("after stale writes: %s; want unchanged", d)
	}
	c := createCategory(t, s, alice, "c")
	if _, err := s.UpdateCategory(ctx, alice, c.ID, 2, func(c *resource.Category) error { c.Name = "lost"; return nil }); !errors.Is(err, resource.ErrPrecondition) {
		t.Errorf("UpdateCategory(stale) = %v, want ErrPrecondition", err)
	}
	if got, _ := s.GetCategory(ctx, alice, c.ID); got != c {
		t.Errorf("category after stale update = %+v, want %+v", got, c)
	}
}

func testCategoryOwnership(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	mine := createCategory(t, s, alice, "mine")
	theirs := createCategory(t, s, bob, "theirs")
	for _, tt := range []struct {
		name string
		ids  []string
	}{
		{"another owner's category", []string{theirs.ID}},
		{"own and another owner's", []string{mine.ID, theirs.ID}},
		{"no such category", []string{"no-such-category"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateTodo(ctx, alice, resource.Todo{Title: "x", CategoryIDs: tt.ids})
			checkInvalid(t, "CreateTodo", err, "categoryIds")
			td := createTodo(t, s, alice, resource.Todo{Title: "y", CategoryIDs: []string{mine.ID}})
			_, err = s.UpdateTodo(ctx, alice, td.ID, td.Version, func(x *resource.Todo) error { x.Title = "z"; x.CategoryIDs = tt.ids; return nil })
			checkInvalid(t, "UpdateTodo", err, "categoryIds")
			if d := sameTodo(getTodo(t, s, alice, td.ID), td); d != "" {
				t.Errorf("after rejected update: %s; want unchanged", d)
			}
		})
	}
	if page, _, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: alice, Text: "x"}); err != nil || len(page) != 0 {
		t.Errorf("todos titled x: %d, %v; want none written", len(page), err)
	}
	if page, _, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: bob}); err != nil || len(page) != 0 {
		t.Errorf("bob's todos: %d, %v; want none", len(page), err)
	}
}

func testDeleteCategoryUnlinks(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	a := createCategory(t, s, alice, "a")
	b := createCategory(t, s, alice, "b")
	td := createTodo(t, s, alice, resource.Todo{Title: "t", CategoryIDs: []string{a.ID, b.ID}})
	other := createTodo(t, s, alice, resource.Todo{Title: "u", CategoryIDs: []string{b.ID}})
	if err := s.DeleteCategory(ctx, alice, a.ID, a.Version); err != nil {
		t.Fatal(err)
	}
	got := getTodo(t, s, alice, td.ID)
	if !slices.Equal(got.CategoryIDs, []string{b.ID}) || got.Version != td.Version+1 {
		t.Errorf("todo after deleting its category: categories %v version %d; want [%s] version %d", got.CategoryIDs, got.Version, b.ID, td.Version+1)
	}
	if got := getTodo(t, s, alice, other.ID); got.Version != other.Version {
		t.Errorf("todo without the deleted category: version %d, want %d", got.Version, other.Version)
	}
}

// checkInvalid fails unless err is ErrInvalid with a ValidationError for field and a message.
func checkInvalid(t *testing.T, what string, err error, field string) {
	t.Helper()
	if !errors.Is(err, resource.ErrInvalid) {
		t.Errorf("%s = %v, want ErrInvalid", what, err)
		return
	}
	for _, v := range resource.ValidationErrors(err) {
		if v.Field == field && v.Message != "" {
			return
		}
	}
	t.Errorf("%s = %v, want a message for field %q", what, err, field)
}

func testValidation(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	cats := make([]string, resource.MaxCategoriesPerTodo+1)
	for i := range cats {
		cats[i] = createCategory(t, s, alice, fmt.Sprintf("c%02d", i)).ID
	}
	for _, tt := range []struct {
		name  string
		todo  resource.Todo
		field string // "" if valid
	}{
		{"empty title", resource.Todo{Title: ""}, "title"},
		{"blank title", resource.Todo{Title: " \t "}, "title"},
		{"title of 200 characters", resource.Todo{Title: strings.Repeat("é", 200)}, ""},
		{"title of 201 characters", resource.Todo{Title: strings.Repeat("a", 201)}, "title"},
		{"title not UTF-8", resource.Todo{Title: "\xff"}, "title"},
		{"notes too long", resource.Todo{Title: "t", Notes: strings.Repeat("n", resource.MaxNotesLength+1)}, "notes"},
		{"20 categories", resource.Todo{Title: "t", CategoryIDs: cats[:resource.MaxCategoriesPerTodo]}, ""},
		{"too many categories", resource.Todo{Title: "t", CategoryIDs: cats}, "categoryIds"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateTodo(ctx, alice, tt.todo)
			if tt.field == "" {
				if err != nil {
					t.Errorf("CreateTodo = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, "CreateTodo", err, tt.field)
			td := createTodo(t, s, alice, resource.Todo{Title: "valid"})
			_, err = s.UpdateTodo(ctx, alice, td.ID, td.Version, func(x *resource.Todo) error { *x = tt.todo; return nil })
			checkInvalid(t, "UpdateTodo", err, tt.field)
			if d := sameTodo(getTodo(t, s, alice, td.ID), td); d != "" {
				t.Errorf("after invalid update: %s; want unchanged", d)
			}
		})
	}
	t.Run("several problems at once", func(t *testing.T) {
		_, err := s.CreateTodo(ctx, alice, resource.Todo{Title: "", Notes: strings.Repeat("n", resource.MaxNotesLength+1)})
		checkInvalid(t, "CreateTodo", err, "title")
		checkInvalid(t, "CreateTodo", err, "notes")
	})
	for _, tt := range []struct {
		name, cat string
	}{{"empty category name", ""}, {"blank category name", "  "}, {"category name too long", strings.Repeat("x", resource.MaxCategoryNameLength+1)}} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateCategory(ctx, alice, resource.Category{Name: tt.cat})
			checkInvalid(t, "CreateCategory", err, "name")
		})
	}
}

func testQueryValidation(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	for _, tt := range []struct {
		name  string
		q     resource.ListTodosQuery
		field string
	}{
		{"limit 0 is the default", resource.ListTodosQuery{Limit: 0}, ""},
		{"limit 100", resource.ListTodosQuery{Limit: 100}, ""},
		{"limit 101", resource.ListTodosQuery{Limit: 101}, "limit"},
		{"negative limit", resource.ListTodosQuery{Limit: -1}, "limit"},
		{"unknown sort", resource.ListTodosQuery{Sort: "id; DROP TABLE todos"}, "sort"},
		{"sort by a real but unlisted column", resource.ListTodosQuery{Sort: "notes"}, "sort"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.OwnerID = alice
			_, _, err := s.ListTodos(ctx, tt.q)
			if tt.field == "" {
				if err != nil {
					t.Errorf("ListTodos = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, "ListTodos", err, tt.field)
		})
	}
	_, _, err := s.ListCategories(ctx, resource.ListCategoriesQuery{OwnerID: alice, Limit: 101})
	checkInvalid(t, "ListCategories", err, "limit")
}

// listAll returns the titles of every todo q selects, following cursors.
func listAll(t *testing.T, s resource.Store, q resource.ListTodosQuery) []string {
	t.Helper()
	var out []string
	for range 1000 {
		page, next, err := s.ListTodos(t.Context(), q)
		if err != nil {
			t.Fatalf("ListTodos(%+v) = %v", q, err)
		}
		for _, td := range page {
			out = append(out, td.Title)
		}
		if next == "" {
			return out
		}
		q.After = next
	}
	t.Fatal("ListTodos: no last page after 1000 pages")
	return nil
}

func testFilters(t *testing.T, newStore Factory) {
	s := newStore(t)
	work := createCategory(t, s, alice, "work")
	home := createCategory(t, s, alice, "home")
	day := func(d int) *time.Time { v := time.Date(2030, 1, d, 12, 0, 0, 0, time.UTC); return &v }
	for _, td := range []resource.Todo{
		{Title: "a report", Notes: "Quarterly", Done: true, DueAt: day(1), CategoryIDs: []string{work.ID}},
		{Title: "b groceries", Notes: "milk", DueAt: day(5), CategoryIDs: []string{home.ID}},
		{Title: "c 100% done", Notes: "", DueAt: day(10), CategoryIDs: []string{work.ID, home.ID}},
		{Title: "d snake_case", Notes: "rename", Done: true},
		{Title: "e plain", Notes: "100 percent, snakecase"},
	} {
		createTodo(t, s, alice, td)
	}
	createTodo(t, s, bob, resource.Todo{Title: "z bob's report", Notes: "quarterly"})
	for _, tt := range []struct {
		name string
		q    resource.ListTodosQuery
		want []string
	}{
		{"none", resource.ListTodosQuery{}, []string{"a report", "b groceries", "c 100% done", "d snake_case", "e plain"}},
		{"done", resource.ListTodosQuery{Done: ptr(true)}, []string{"a report", "d snake_case"}},
		{"not done", resource.ListTodosQuery{Done: ptr(false)}, []string{"b groceries", "c 100% done", "e plain"}},
		{"category work", resource.ListTodosQuery{CategoryID: work.ID}, []string{"a report", "c 100% done"}},
		{"category home, not done", resource.ListTodosQuery{CategoryID: home.ID, Done: ptr(false)}, []string{"b groceries", "c 100% done"}},
		{"unknown category", resource.ListTodosQuery{CategoryID: "nope"}, nil},
		{"due before day 5", resource.ListTodosQuery{DueBefore: day(5)}, []string{"a report"}},
		{"due after day 1", resource.ListTodosQuery{DueAfter: day(1)}, []string{"b groceries", "c 100% done"}},
		{"due between", resource.ListTodosQuery{DueAfter: day(1), DueBefore: day(10)}, []string{"b groceries"}},
		{"text in title, other case", resource.ListTodosQuery{Text: "REPORT"}, []string{"a report"}},
		{"text in notes, other case", resource.ListTodosQuery{Text: "quarterly"}, []string{"a report"}},
		{"text % is literal", resource.ListTodosQuery{Text: "100%"}, []string{"c 100% done"}},
		{"text % alone", resource.ListTodosQuery{Text: "%"}, []string{"c 100% done"}},
		{"text _ is literal", resource.ListTodosQuery{Text: "snake_case"}, []string{"d snake_case"}},
		{"text _ alone", resource.ListTodosQuery{Text: "_"}, []string{"d snake_case"}},
		{"text with the escape character", resource.ListTodosQuery{Text: "!"}, nil},
		{"text with a quote", resource.ListTodosQuery{Text: "bob's"}, nil},
		{"text and done", resource.ListTodosQuery{Text: "snake", Done: ptr(false)}, []string{"e plain"}},
		{"all filters", resource.ListTodosQuery{Done: ptr(false), CategoryID: home.ID, DueAfter: day(6), Text: "DONE"}, []string{"c 100% done"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.OwnerID, tt.q.Sort, tt.q.Limit = alice, resource.SortTitle, 2
			if got := listAll(t, s, tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("ListTodos(%s) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func testPagination(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	const n = 250
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	todos := make([]resource.Todo, n)
	for i := range n {
		td := resource.Todo{Title: fmt.Sprintf("t%03d", (i*37)%100)} // titles repeat: ties go by id
		if i%5 != 0 {
			td.DueAt = ptr(base.Add(time.Duration(i%17) * 24 * time.Hour)) // dates repeat too
		}
		todos[i] = createTodo(t, s, alice, td)
	}
	createTodo(t, s, bob, resource.Todo{Title: "t000"})
	key := map[resource.TodoSort]func(resource.Todo) (int64, string){
		resource.SortCreatedAt: func(td resource.Todo) (int64, string) { return td.CreatedAt.UnixMilli(), "" },
		resource.SortDueAt: func(td resource.Todo) (int64, string) {
			if td.DueAt == nil {
				return 1<<63 - 1, ""
			}
			return td.DueAt.UnixMilli(), ""
		},
		resource.SortTitle: func(td resource.Todo) (int64, string) { return 0, td.Title },
	}
	for _, sort := range []resource.TodoSort{resource.SortCreatedAt, resource.SortDueAt, resource.SortTitle} {
		for _, desc := range []bool{false, true} {
			want := slices.Clone(todos)
			slices.SortFunc(want, func(a, b resource.Todo) int {
				an, as := key[sort](a)
				bn, bs := key[sort](b)
				c := cmpInt(an, bn)
				if c == 0 {
					c = strings.Compare(as, bs)
				}
				if c == 0 {
					c = strings.Compare(a.ID, b.ID)
				}
				if desc {
					c = -c
				}
				return c
			})
			for _, size := range []int{1, 7, 100} {
				t.Run(fmt.Sprintf("%s desc=%v limit=%d", sort, desc, size), func(t *testing.T) {
					q := resource.ListTodosQuery{OwnerID: alice, Sort: sort, Desc: desc, Limit: size}
					seen := map[string]int{}
					var got []string
					for pages := 0; ; pages++ {
						if pages > n {
							t.Fatalf("more than %d pages", n)
						}
						page, next, err := s.ListTodos(ctx, q)
						if err != nil {
							t.Fatalf("page %d: %v", pages, err)
						}
						if len(page) > size || (next != "" && len(page) != size) {
							t.Fatalf("page %d: %d todos with next=%v, want %d (fewer only on the last page)", pages, len(page), next != "", size)
						}
						for _, td := range page {
							seen[td.ID]++
							got = append(got, td.ID)
						}
						if next == "" {
							break
						}
						q.After = next
					}
					for id, c := range seen {
						if c != 1 {
							t.Errorf("todo %s visited %d times, want once", id, c)
						}
					}
					wantIDs := make([]string, len(want))
					for i, td := range want {
						wantIDs[i] = td.ID
					}
					if len(got) != n {
						t.Errorf("visited %d todos, want %d", len(got), n)
					}
					if !slices.Equal(got, wantIDs) {
						i := 0
						for i < min(len(got), len(wantIDs)) && got[i] == wantIDs[i] {
							i++
						}
						t.Errorf("order differs from %s (desc=%v) at position %d", sort, desc, i)
					}
				})
			}
		}
	}
	// Categories come with each listed todo.
	c := createCategory(t, s, alice, "paged")
	for _, td := range todos[:3] {
		if _, err := s.UpdateTodo(ctx, alice, td.ID, td.Version, func(x *resource.Todo) error { x.CategoryIDs = []string{c.ID}; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	page, _, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: alice, Limit: 100, CategoryID: c.ID})
	if err != nil || len(page) != 3 {
		t.Fatalf("ListTodos(category) = %d, %v; want 3", len(page), err)
	}
	for _, td := range page {
		if !slices.Equal(td.CategoryIDs, []string{c.ID}) {
			t.Errorf("listed todo %s: categories %v, want [%s]", td.ID, td.CategoryIDs, c.ID)
		}
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testCategoryPagination(t *testing.T, newStore Factory) {
	s := newStore(t)
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("Cat%02d", 24-i)
		if i%2 == 0 {
			name = strings.ToLower(name)
		}
		createCategory(t, s, alice, name)
		want = append(want, strings.ToLower(name))
	}
	createCategory(t, s, bob, "bob")
	slices.Sort(want)
	for _, size := range []int{1, 4, 25, 100} {
		q := resource.ListCategoriesQuery{OwnerID: alice, Limit: size}
		var got []string
		for range 100 {
			page, next, err := s.ListCategories(t.Context(), q)
			if err != nil {
				t.Fatalf("ListCategories(limit %d) = %v", size, err)
			}
			for _, c := range page {
				got = append(got, strings.ToLower(c.Name))
			}
			if next == "" {
				break
			}
			q.After = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListCategories by %d = %q, want %q", size, got, want)
		}
	}
}

func testCursors(t *testing.T, newStore Factory) {
	s := newStore(t)
	other := newStore(t)
	ctx := t.Context()
	for i := range 5 {
		createTodo(t, s, alice, resource.Todo{Title: fmt.Sprintf("t%d", i)})
		createTodo(t, s, bob, resource.Todo{Title: fmt.Sprintf("t%d", i)})
		createTodo(t, other, alice, resource.Todo{Title: fmt.Sprintf("t%d", i)})
		createCategory(t, s, alice, fmt.Sprintf("c%d", i))
	}
	first := func(s resource.Store, owner string, sort resource.TodoSort) string {
		_, next, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: owner, Sort: sort, Limit: 2})
		if err != nil || next == "" {
			t.Fatalf("first page: next %q, %v", next, err)
		}
		return next
	}
	good := first(s, alice, resource.SortCreatedAt)
	if _, _, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: alice, Limit: 2, After: good}); err != nil {
		t.Fatalf("the store's own cursor: %v", err)
	}
	_, catCursor, err := s.ListCategories(ctx, resource.ListCategoriesQuery{OwnerID: alice, Limit: 2})
	if err != nil || catCursor == "" {
		t.Fatalf("categories first page: %q, %v", catCursor, err)
	}
	flip := func(c string) string {
		b := []byte(c)
		i := len(b) / 3
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tt := range []struct {
		name   string
		cursor string
		q      resource.ListTodosQuery
	}{
		{"truncated", good[:len(good)-1], resource.ListTodosQuery{}},
		{"half", good[:len(good)/2], resource.ListTodosQuery{}},
		{"one character changed", flip(good), resource.ListTodosQuery{}},
		{"appended", good + "A", resource.ListTodosQuery{}},
		{"garbage", "not a cursor", resource.ListTodosQuery{}},
		{"SQL", "' OR 1=1 --", resource.ListTodosQuery{}},
		{"dot only", ".", resource.ListTodosQuery{}},
		{"very long", strings.Repeat("A", 1<<16), resource.ListTodosQuery{}},
		{"another owner's", first(s, bob, resource.SortCreatedAt), resource.ListTodosQuery{}},
		{"another store's key", first(other, alice, resource.SortCreatedAt), resource.ListTodosQuery{}},
		{"another sort's", first(s, alice, resource.SortTitle), resource.ListTodosQuery{}},
		{"another direction's", good, resource.ListTodosQuery{Desc: true}},
		{"a categories cursor", catCursor, resource.ListTodosQuery{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.OwnerID, tt.q.Limit, tt.q.After = alice, 2, tt.cursor
			page, next, err := s.ListTodos(ctx, tt.q)
			checkInvalid(t, "ListTodos", err, "cursor")
			if len(page) != 0 || next != "" {
				t.Errorf("ListTodos with a bad cursor returned %d todos and next %q, want nothing", len(page), next)
			}
		})
	}
	for _, tt := range []struct{ name, cursor string }{
		{"a todos cursor", good},
		{"truncated", catCursor[:len(catCursor)-2]},
		{"one character changed", flip(catCursor)},
	} {
		t.Run("categories "+tt.name, func(t *testing.T) {
			_, _, err := s.ListCategories(ctx, resource.ListCategoriesQuery{OwnerID: alice, Limit: 2, After: tt.cursor})
			checkInvalid(t, "ListCategories", err, "cursor")
		})
	}
}

func testConcurrentUpdate(t *testing.T, newStore Factory) {
	s := newStore(t)
	td := createTodo(t, s, alice, resource.Todo{Title: "contended"})
	const n = 8
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = s.UpdateTodo(context.WithoutCancel(t.Context()), alice, td.ID, td.Version, func(x *resource.Todo) error {
				x.Title = fmt.Sprintf("writer %d", i)
				return nil
			})
		})
	}
	close(start)
	wg.Wait()
	winners := 0
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil:
			winners++
			winner = fmt.Sprintf("writer %d", i)
		case !errors.Is(err, resource.ErrPrecondition):
			t.Errorf("writer %d: %v, want nil or ErrPrecondition", i, err)
		}
	}
	if winners != 1 {
		t.Fatalf("%d writers won with the same version, want exactly 1", winners)
	}
	if got := getTodo(t, s, alice, td.ID); got.Title != winner || got.Version != 2 {
		t.Errorf("after the race: title %q version %d, want %q version 2", got.Title, got.Version, winner)
	}
}

// testConcurrentCategoryDelete races the deletion of categories with updates that link them:
// every call ends in success or a domain error (never a deadlock or a foreign-key error), and no
// todo is left with a deleted category.
func testConcurrentCategoryDelete(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := context.WithoutCancel(t.Context())
	for round := range 10 {
		a := createCategory(t, s, alice, fmt.Sprintf("a%d", round))
		b := createCategory(t, s, alice, fmt.Sprintf("b%d", round))
		td := createTodo(t, s, alice, resource.Todo{Title: "t", CategoryIDs: []string{a.ID}})
		var (
			wg   sync.WaitGroup
			errs [4]error
		)
		start := make(chan struct{})
		wg.Go(func() { <-start; errs[0] = s.DeleteCategory(ctx, alice, a.ID, a.Version) })
		wg.Go(func() { <-start; errs[1] = s.DeleteCategory(ctx, alice, b.ID, b.Version) })
		wg.Go(func() {
			<-start
			_, errs[2] = s.UpdateTodo(ctx, alice, td.ID, resource.AnyVersion, func(x *resource.Todo) error {
				x.CategoryIDs = []string{a.ID, b.ID}
				return nil
			})
		})
		wg.Go(func() {
			<-start
			_, errs[3] = s.CreateTodo(ctx, alice, resource.Todo{Title: "u", CategoryIDs: []string{b.ID}})
		})
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil && !errors.Is(err, resource.ErrInvalid) && !errors.Is(err, resource.ErrPrecondition) {
				t.Errorf("round %d, call %d: %v, want nil, ErrInvalid or ErrPrecondition", round, i, err)
			}
		}
		if errs[0] != nil || errs[1] != nil {
			t.Errorf("round %d: DeleteCategory = %v, %v; want nil", round, errs[0], errs[1])
		}
		page, _, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: alice, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page {
			if len(x.CategoryIDs) != 0 {
				t.Errorf("round %d: todo %s has categories %v after they were all deleted", round, x.ID, x.CategoryIDs)
			}
		}
	}
}

// testListAllTodos: the admin view pages through every owner's todos in creation order, with
// their owners and categories, and refuses cursors of the owner-scoped lists (and vice versa).
func testListAllTodos(t *testing.T, newStore Factory) {
	s := newStore(t)
	ctx := t.Context()
	cat, err := s.CreateCategory(ctx, alice, resource.Category{Name: "work"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // id → owner
	for i := range 7 {
		owner, td := alice, resource.Todo{Title: fmt.Sprintf("a%d", i), CategoryIDs: []string{cat.ID}}
		if i%2 == 1 {
			owner, td = bob, resource.Todo{Title: fmt.Sprintf("b%d", i)}
		}
		want[createTodo(t, s, owner, td).ID] = owner
	}
	seen := map[string]bool{}
	var order []time.Time
	after, pages := "", 0
	for {
		page, next, err := s.ListAllTodos(ctx, resource.AllTodosQuery{Limit: 3, After: after})
		if err != nil {
			t.Fatalf("ListAllTodos page %d: %v", pages+1, err)
		}
		pages++
		for _, td := range page {
			if seen[td.ID] || want[td.ID] != td.OwnerID {
				t.Fatalf("page %d: todo %s of %q repeated or not created", pages, td.ID, td.OwnerID)
			}
			seen[td.ID] = true
			order = append(order, td.CreatedAt)
			if td.OwnerID == alice && !slices.Equal(td.CategoryIDs, []string{cat.ID}) {
				t.Errorf("alice's todo %s has categories %v, want [%s]", td.ID, td.CategoryIDs, cat.ID)
			}
		}
		if next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("no last page")
		}
		after = next
	}
	if len(seen) != 7 || pages != 3 {
		t.Errorf("saw %d todos in %d pages, want 7 in 3", len(seen), pages)
	}
	if !slices.IsSortedFunc(order, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Errorf("not in creation order: %v", order)
	}
	// Cursors do not cross between the admin view and an owner's list.
	_, ownerNext, err := s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: alice, Limit: 1})
	if err != nil || ownerNext == "" {
		t.Fatalf("ListTodos(alice, limit 1) = %q, %v", ownerNext, err)
	}
	_, _, err = s.ListAllTodos(ctx, resource.AllTodosQuery{Limit: 1, After: ownerNext})
	checkInvalid(t, "ListAllTodos(alice's cursor)", err, "cursor")
	_, allNext, err := s.ListAllTodos(ctx, resource.AllTodosQuery{Limit: 1})
	if err != nil || allNext == "" {
		t.Fatalf("ListAllTodos(limit 1) = %q, %v", allNext, err)
	}
	_, _, err = s.ListTodos(ctx, resource.ListTodosQuery{OwnerID: alice, After: allNext})
	checkInvalid(t, "ListTodos(the admin cursor)", err, "cursor")
	_, _, err = s.ListAllTodos(ctx, resource.AllTodosQuery{After: "Zm9yZ2Vk.Zm9yZ2Vk"})
	checkInvalid(t, "ListAllTodos(forged cursor)", err, "cursor")
	_, _, err = s.ListAllTodos(ctx, resource.AllTodosQuery{Limit: resource.MaxLimit + 1})
	checkInvalid(t, "ListAllTodos(limit 101)", err, "limit")
}
