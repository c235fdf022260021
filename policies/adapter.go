package policies

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-id/gatehouse/internal/database"
)

// Adapter is a Casbin adapter on the casbin_rule table (migrations/policies), for PostgreSQL and
// SQLite. It is a persist.Adapter, persist.BatchAdapter and persist.FilteredAdapter. Its writes
// are raw: they create no revision and notify no one, so Gatehouse changes the policy only through
// Service; the adapter's writes are there for Casbin's API and for tests.
type Adapter struct {
	db       *database.DB
	filtered atomic.Bool
}

var (
	_ persist.Adapter         = (*Adapter)(nil)
	_ persist.BatchAdapter    = (*Adapter)(nil)
	_ persist.FilteredAdapter = (*Adapter)(nil)
)

// ErrDuplicate is returned when a rule to add is already in the table (the UNIQUE constraint).
var ErrDuplicate = errors.New("policies: rule already exists")

// NewAdapter returns the adapter on db, whose policies migrations must be applied.
func NewAdapter(db *database.DB) *Adapter { return &Adapter{db: db} }

// Filter selects rules for LoadFilteredPolicy: each non-empty list is a condition that the rule's
// column is one of its values; the conditions are joined with AND.
type Filter struct {
	PType                  []string
	V0, V1, V2, V3, V4, V5 []string
}

const ruleColumns = 7 // v0..v5 and ptype

// row is a line of casbin_rule.
type row struct {
	PType string `db:"ptype"`
	V0    string `db:"v0"`
	V1    string `db:"v1"`
	V2    string `db:"v2"`
	V3    string `db:"v3"`
	V4    string `db:"v4"`
	V5    string `db:"v5"`
}

// values returns v0..v5 without trailing empty values.
func (r row) values() []string {
	v := []string{r.V0, r.V1, r.V2, r.V3, r.V4, r.V5}
	for len(v) > 0 && v[len(v)-1] == "" {
		v = v[:len(v)-1]
	}
	return v
}

// args is the row's ptype and six values for a query.
func args(ptype string, vals []string) ([]any, error) {
	if len(vals) > ruleColumns-1 {
		return nil, fmt.Errorf("policies: a rule has at most %d values, got %d", ruleColumns-1, len(vals))
	}
	a := make([]any, ruleColumns)
	a[0] = ptype
	for i := range ruleColumns - 1 {
		a[i+1] = ""
		if i < len(vals) {
			a[i+1] = vals[i]
		}
	}
	return a, nil
}

func selectRows(ctx context.Context, x sqlx.ExtContext, where string, whereArgs ...any) ([]row, error) {
	q := "SELECT ptype, v0, v1, v2, v3, v4, v5 FROM casbin_rule" + where + " ORDER BY id"
	var rows []row
	if err := sqlx.SelectContext(ctx, x, &rows, x.Rebind(q), whereArgs...); err != nil {
		return nil, fmt.Errorf("load casbin_rule: %w", err)
	}
	return rows, nil
}

func insertRule(ctx context.Context, x sqlx.ExtContext, ptype string, vals []string) error {
	a, err := args(ptype, vals)
	if err != nil {
		return err
	}
	_, err = x.ExecContext(ctx, x.Rebind("INSERT INTO casbin_rule (ptype, v0, v1, v2, v3, v4, v5) VALUES (?, ?, ?, ?, ?, ?, ?)"), a...)
	if database.IsUniqueViolation(err) {
		return fmt.Errorf("%w: %s, %s", ErrDuplicate, ptype, strings.Join(vals, ", "))
	}
	if err != nil {
		return fmt.Errorf("insert rule: %w", err)
	}
	return nil
}

func deleteRule(ctx context.Context, x sqlx.ExtContext, ptype string, vals []string) (int64, error) {
	a, err := args(ptype, vals)
	if err != nil {
		return 0, err
	}
	res, err := x.ExecContext(ctx, x.Rebind("DELETE FROM casbin_rule WHERE ptype = ? AND v0 = ? AND v1 = ? AND v2 = ? AND v3 = ? AND v4 = ? AND v5 = ?"), a...)
	if err != nil {
		return 0, fmt.Errorf("delete rule: %w", err)
	}
	return res.RowsAffected()
}

// LoadPolicy loads every rule into m.
func (a *Adapter) LoadPolicy(m model.Model) error {
	a.filtered.Store(false)
	return a.load(context.Background(), m, "")
}

func (a *Adapter) load(ctx context.Context, m model.Model, where string, whereArgs ...any) error {
	rows, err := selectRows(ctx, a.db, where, whereArgs...)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := persist.LoadPolicyArray(append([]string{r.PType}, r.values()...), m); err != nil {
			return fmt.Errorf("load rule %s: %w", r.PType, err)
		}
	}
	return nil
}

// LoadFilteredPolicy loads the rules that filter (a Filter or *Filter; nil: all) selects.
func (a *Adapter) LoadFilteredPolicy(m model.Model, filter any) error {
	var f Filter
	switch v := filter.(type) {
	case nil:
		return a.LoadPolicy(m)
	case Filter:
		f = v
	case *Filter:
		if v == nil {
			return a.LoadPolicy(m)
		}
		f = *v
	default:
		return fmt.Errorf("policies: LoadFilteredPolicy wants a policies.Filter, got %T", filter)
	}
	var conds []string
	var whereArgs []any
	for i, list := range [][]string{f.PType, f.V0, f.V1, f.V2, f.V3, f.V4, f.V5} {
		if len(list) == 0 {
			continue
		}
		col := "ptype"
		if i > 0 {
			col = "v" + strconv.Itoa(i-1)
		}
		conds = append(conds, col+" IN (?"+strings.Repeat(", ?", len(list)-1)+")")
		for _, v := range list {
			whereArgs = append(whereArgs, v)
		}
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	if err := a.load(context.Background(), m, where, whereArgs...); err != nil {
		return err
	}
	a.filtered.Store(len(conds) > 0)
	return nil
}

// IsFiltered reports whether the last load was filtered (Casbin then refuses SavePolicy).
func (a *Adapter) IsFiltered() bool { return a.filtered.Load() }

// SavePolicy replaces the whole table with the rules of m, in one transaction.
func (a *Adapter) SavePolicy(m model.Model) error {
	ctx := context.Background()
	return a.db.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM casbin_rule"); err != nil {
			return fmt.Errorf("save policy: %w", err)
		}
		for _, sec := range []string{"p", "g"} {
			for ptype, ast := range m[sec] {
				for _, rule := range ast.Policy {
					if err := insertRule(ctx, tx, ptype, rule); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// AddPolicy adds one rule; a rule already present is refused with ErrDuplicate.
func (a *Adapter) AddPolicy(_ string, ptype string, rule []string) error {
	return insertRule(context.Background(), a.db, ptype, rule)
}

// RemovePolicy removes one rule; removing an absent rule is not an error.
func (a *Adapter) RemovePolicy(_ string, ptype string, rule []string) error {
	_, err := deleteRule(context.Background(), a.db, ptype, rule)
	return err
}

// AddPolicies adds rules atomically: if one is refused (ErrDuplicate), none is added.
func (a *Adapter) AddPolicies(_ string, ptype string, rules [][]string) error {
	ctx := context.Background()
	return a.db.InTx(ctx, func(tx *sqlx.Tx) error {
		for _, r := range rules {
			if err := insertRule(ctx, tx, ptype, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemovePolicies removes rules atomically.
func (a *Adapter) RemovePolicies(_ string, ptype string, rules [][]string) error {
	ctx := context.Background()
	return a.db.InTx(ctx, func(tx *sqlx.Tx) error {
		for _, r := range rules {
			if _, err := deleteRule(ctx, tx, ptype, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveFilteredPolicy removes the rules of ptype whose values from fieldIndex on equal
// fieldValues; an empty value matches anything.
func (a *Adapter) RemoveFilteredPolicy(_ string, ptype string, fieldIndex int, fieldValues ...string) error {
	if fieldIndex < 0 || fieldIndex+len(fieldValues) > ruleColumns-1 {
		return fmt.Errorf("policies: filter of %d values from index %d is out of range", len(fieldValues), fieldIndex)
	}
	q := "DELETE FROM casbin_rule WHERE ptype = ?"
	whereArgs := []any{ptype}
	for i, v := range fieldValues {
		if v == "" {
			continue
		}
		q += " AND v" + strconv.Itoa(fieldIndex+i) + " = ?"
		whereArgs = append(whereArgs, v)
	}
	if _, err := a.db.ExecContext(context.Background(), a.db.Rebind(q), whereArgs...); err != nil {
		return fmt.Errorf("remove filtered policy: %w", err)
	}
	return nil
}
