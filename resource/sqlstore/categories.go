package sqlstore

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/resource"
)

const categoryColumns = "id, owner_id, name, name_key, created_at, updated_at, version"

type categoryRow struct {
	ID        string `db:"id"`
	OwnerID   string `db:"owner_id"`
	Name      string `db:"name"`
	NameKey   string `db:"name_key"`
	CreatedAt int64  `db:"created_at"`
	UpdatedAt int64  `db:"updated_at"`
	Version   int64  `db:"version"`
}

func (r categoryRow) category() resource.Category {
	return resource.Category{
		ID: r.ID, OwnerID: r.OwnerID, Name: r.Name,
		CreatedAt: fromMillis(r.CreatedAt), UpdatedAt: fromMillis(r.UpdatedAt), Version: r.Version,
	}
}

// CreateCategory implements resource.Store.
func (s *Store) CreateCategory(ctx context.Context, owner string, c resource.Category) (resource.Category, error) {
	if err := checkOwner(owner); err != nil {
		return resource.Category{}, err
	}
	if err := c.Validate(); err != nil {
		return resource.Category{}, fmt.Errorf("create category: %w", err)
	}
	now := s.now().UnixMilli()
	c.ID, c.OwnerID, c.Version = newID(), owner, 1
	c.CreatedAt, c.UpdatedAt = fromMillis(now), fromMillis(now)
	_, err := s.db.ExecContext(ctx, s.rebind("INSERT INTO categories ("+categoryColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)"),
		c.ID, owner, c.Name, resource.CategoryKey(c.Name), now, now, c.Version)
	if err != nil {
		return resource.Category{}, domainErr("create category", err)
	}
	return c, nil
}

// GetCategory implements resource.Store.
func (s *Store) GetCategory(ctx context.Context, owner, id string) (resource.Category, error) {
	var r categoryRow
	err := sqlx.GetContext(ctx, s.reader, &r, s.rebind("SELECT "+categoryColumns+" FROM categories WHERE id = ? AND owner_id = ?"), id, owner)
	if err != nil {
		return resource.Category{}, domainErr("get category", err)
	}
	return r.category(), nil
}

// ListCategories implements resource.Store: ordered by name ignoring case (name_key), then id.
func (s *Store) ListCategories(ctx context.Context, q resource.ListCategoriesQuery) ([]resource.Category, string, error) {
	if err := checkOwner(q.OwnerID); err != nil {
		return nil, "", err
	}
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, "", err
	}
	query := "SELECT " + categoryColumns + " FROM categories WHERE owner_id = ?"
	args := []any{q.OwnerID}
	if q.After != "" {
		c, err := s.decodeCursor("categories", q.OwnerID, q.After)
		if err != nil {
			return nil, "", err
		}
		if c.Sort != "name" || c.Desc || c.Num != nil {
			return nil, "", errBadCursor
		}
		query += " AND (name_key, id) > (?, ?)"
		args = append(args, c.Str, c.ID)
	}
	query += " ORDER BY name_key, id LIMIT ?"
	args = append(args, limit+1)
	var rows []categoryRow
	if err := sqlx.SelectContext(ctx, s.reader, &rows, s.rebind(query), args...); err != nil {
		return nil, "", domainErr("list categories", err)
	}
	var next string
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next = s.encodeCursor("categories", q.OwnerID, cursor{Sort: "name", Str: last.NameKey, ID: last.ID})
	}
	page := make([]resource.Category, len(rows))
	for i, r := range rows {
		page[i] = r.category()
	}
	return page, next, nil
}

// UpdateCategory implements resource.Store.
func (s *Store) UpdateCategory(ctx context.Context, owner, id string, ifVersion int64, fn func(*resource.Category) error) (resource.Category, error) {
	if err := checkOwner(owner); err != nil {
		return resource.Category{}, err
	}
	var c resource.Category
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var r categoryRow
		err := tx.GetContext(ctx, &r, s.rebind("SELECT "+categoryColumns+" FROM categories WHERE id = ? AND owner_id = ?"+s.forUpdate), id, owner)
		if err != nil {
			return domainErr("update category", err)
		}
		if err := checkVersion("update category", r.Version, ifVersion); err != nil {
			return err
		}
		old := r.category()
		c = old
		if err := fn(&c); err != nil {
			return err
		}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("update category: %w", err)
		}
		now := s.now().UnixMilli()
		c.ID, c.OwnerID, c.CreatedAt = old.ID, old.OwnerID, old.CreatedAt
		c.UpdatedAt, c.Version = fromMillis(now), old.Version+1
		res, err := tx.ExecContext(ctx, s.rebind("UPDATE categories SET name = ?, name_key = ?, updated_at = ?, version = ? WHERE id = ? AND version = ?"),
			c.Name, resource.CategoryKey(c.Name), now, c.Version, id, old.Version)
		if err != nil {
			return domainErr("update category", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update category: %w", err)
		} else if n != 1 {
			return fmt.Errorf("update category: changed concurrently: %w", resource.ErrPrecondition)
		}
		return nil
	})
	if err != nil {
		return resource.Category{}, err
	}
	return c, nil
}

// DeleteCategory implements resource.Store.
func (s *Store) DeleteCategory(ctx context.Context, owner, id string, ifVersion int64) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		var version int64
		err := tx.GetContext(ctx, &version, s.rebind("SELECT version FROM categories WHERE id = ? AND owner_id = ?"+s.forUpdate), id, owner)
		if err != nil {
			return domainErr("delete category", err)
		}
		if err := checkVersion("delete category", version, ifVersion); err != nil {
			return err
		}
		// The todos that lose the category change: their ETags must too. With the category
		// locked no new link to it can be made, and this statement sees every committed one.
		// Lock order: category, then todos, as in UpdateTodo.
		if _, err := tx.ExecContext(ctx, s.rebind("UPDATE todos SET version = version + 1, updated_at = ? "+
			"WHERE id IN (SELECT todo_id FROM todo_categories WHERE category_id = ?)"), s.now().UnixMilli(), id); err != nil {
			return domainErr("delete category", err)
		}
		if _, err := tx.ExecContext(ctx, s.rebind("DELETE FROM categories WHERE id = ?"), id); err != nil {
			return domainErr("delete category", err)
		}
		return nil
	})
}
