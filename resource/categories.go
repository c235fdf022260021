package resource

import (
	"context"
	"time"
)

// CategoryBody is a category as the API shows it.
type CategoryBody struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   int64     `json:"version" doc:"Changes on every write; the ETag is this number in quotes"`
}

func categoryBody(c Category) CategoryBody {
	return CategoryBody{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Version: c.Version}
}

// CategoryInput is the body of POST, PUT and PATCH of a category (its one field is its name).
type CategoryInput struct {
	Name string `json:"name" minLength:"1" maxLength:"100"`
}

type categoryOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Body     CategoryBody
}

func categoryOut(c Category) *categoryOutput {
	return &categoryOutput{ETag: etag(c.Version), Body: categoryBody(c)}
}

type categoryListInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	Cursor string `query:"cursor" maxLength:"1024" doc:"The next_cursor of the previous page"`
}

type categoryListOutput struct {
	Body struct {
		Items      []CategoryBody `json:"items"`
		NextCursor string         `json:"next_cursor" doc:"Empty after the last page"`
	}
}

func (s *Server) handleCategoryList(ctx context.Context, in *categoryListInput) (*categoryListOutput, error) {
	page, next, err := s.st.ListCategories(ctx, ListCategoriesQuery{OwnerID: owner(ctx), Limit: in.Limit, After: in.Cursor})
	if err != nil {
		return nil, s.problem(ctx, "category", err)
	}
	out := &categoryListOutput{}
	out.Body.Items = make([]CategoryBody, 0, len(page))
	for _, c := range page {
		out.Body.Items = append(out.Body.Items, categoryBody(c))
	}
	out.Body.NextCursor = next
	return out, nil
}

func (s *Server) handleCategoryCreate(ctx context.Context, in *struct{ Body CategoryInput }) (*categoryOutput, error) {
	c, err := s.st.CreateCategory(ctx, owner(ctx), Category{Name: in.Body.Name})
	if err != nil {
		return nil, s.problem(ctx, "category", err)
	}
	out := categoryOut(c)
	out.Location = apiPrefix + "/categories/" + c.ID
	return out, nil
}

func (s *Server) handleCategoryGet(ctx context.Context, in *idInput) (*categoryOutput, error) {
	c, err := s.st.GetCategory(ctx, owner(ctx), in.ID)
	if err != nil {
		return nil, s.problem(ctx, "category", err)
	}
	return categoryOut(c), nil
}

func (s *Server) updateCategory(ctx context.Context, id, ifMatch, name string) (*categoryOutput, error) {
	v, err := ifVersion(ifMatch, "category")
	if err != nil {
		return nil, err
	}
	c, err := s.st.UpdateCategory(ctx, owner(ctx), id, v, func(c *Category) error { c.Name = name; return nil })
	if err != nil {
		return nil, s.problem(ctx, "category", err)
	}
	return categoryOut(c), nil
}

func (s *Server) handleCategoryPut(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"100"`
	IfMatch string `header:"If-Match" doc:"The ETag read (required; * skips the check)"`
	Body    CategoryInput
}) (*categoryOutput, error) {
	return s.updateCategory(ctx, in.ID, in.IfMatch, in.Body.Name)
}

// handleCategoryPatch: a category has one settable field, so PATCH and PUT coincide.
func (s *Server) handleCategoryPatch(ctx context.Context, in *struct {
	ID      string `path:"id" maxLength:"100"`
	IfMatch string `header:"If-Match" doc:"The ETag read (required; * skips the check)"`
	Body    CategoryInput
}) (*categoryOutput, error) {
	return s.updateCategory(ctx, in.ID, in.IfMatch, in.Body.Name)
}

func (s *Server) handleCategoryDelete(ctx context.Context, in *ifMatchInput) (*struct{}, error) {
	v, err := ifVersion(in.IfMatch, "category")
	if err != nil {
		return nil, err
	}
	if err := s.st.DeleteCategory(ctx, owner(ctx), in.ID, v); err != nil {
		return nil, s.problem(ctx, "category", err)
	}
	return nil, nil
}
