package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestRolesAssignByEmail_F17: (review F17) giving something to a user named by email needs an
// enabled account: `roles assign` and `policies add` (allow) refuse a disabled user, and warn on
// stderr when the address is unconfirmed (whoever registered it may not own it) but assign. Taking
// away by email still works for a disabled user (the emergency path), and so do deny rules.
func TestRolesAssignByEmail_F17(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "gh.db")
	for _, args := range [][]string{
		{"users", "create", "--email", "alice@example.com", "--password-stdin", "--role=", "--verified"},
		{"users", "create", "--email", "eve@example.com", "--password-stdin", "--role="},
		{"users", "create", "--email", "mallory@example.com", "--password-stdin", "--role=", "--verified"},
	} {
		if _, err := gh(t, db, "hunter2hunter2\n", args...); err != nil {
			t.Fatal(err)
		}
	}
	// with runs the CLI and returns stderr too.
	with := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		getenv := func(k string) string {
			if k == "GATEHOUSE_DATABASE_URL" {
				return db
			}
			return ""
		}
		err := run(t.Context(), args, getenv, strings.NewReader(""), &out, &errOut)
		return errOut.String(), err
	}
	if stderr, err := with("roles", "assign", "alice@example.com", "admin"); err != nil || strings.Contains(stderr, "warning") {
		t.Fatalf("verified, enabled alice: %v, stderr %q", err, stderr)
	}
	if stderr, err := with("roles", "assign", "eve@example.com", "user"); err != nil || !strings.Contains(stderr, "warning: eve@example.com") || !strings.Contains(stderr, "not confirmed") {
		t.Fatalf("unconfirmed eve: %v, stderr %q; want the assignment with a warning", err, stderr)
	}
	if _, err := with("roles", "assign", "mallory@example.com", "user"); err != nil {
		t.Fatal(err)
	}
	if _, err := gh(t, db, "", "users", "disable", "mallory@example.com"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"roles", "assign", "mallory@example.com", "admin"},
		{"policies", "add", "mallory@example.com", "/api/v1/admin/todos", "GET"},
	} {
		if _, err := with(args...); err == nil || !strings.Contains(err.Error(), "is disabled") {
			t.Errorf("gatehouse %v for a disabled user: %v, want refused", args, err)
		}
	}
	for _, args := range [][]string{
		{"policies", "add", "mallory@example.com", "/api/v1/todos", "GET", "--effect", "deny"},
		{"roles", "unassign", "mallory@example.com", "user"},
	} {
		if _, err := with(args...); err != nil {
			t.Errorf("gatehouse %v for a disabled user: %v, want done", args, err)
		}
	}
	if out, err := gh(t, db, "", "roles", "list", "--role", "admin"); err != nil || strings.Contains(out, "mallory") {
		t.Errorf("roles list --role admin = %q %v", out, err)
	}
}
