package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gh runs one gatehouse command in process against a database and returns stdout.
func gh(t *testing.T, dbURL, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string {
		if k == "GATEHOUSE_DATABASE_URL" {
			return dbURL
		}
		return ""
	}
	err := run(t.Context(), args, getenv, strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		t.Logf("gatehouse %v: %v\nstderr: %s", args, err, errOut.String())
	}
	return out.String(), err
}

// TestCLI creates a client, a user and rotates keys through the CLI's JSON interface.
func TestCLI(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "gh.db")
	out, err := gh(t, db, "", "clients", "create", "--name", "web", "--redirect-uri", "https://app.example/cb", "--audience", "https://api.example", "--output", "json")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ClientID     string   `json:"client_id"`
		ClientSecret string   `json:"client_secret"`
		Audiences    []string `json:"audiences"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ClientID == "" || len(c.ClientSecret) < 43 || c.Audiences[0] != "https://api.example" {
		t.Fatalf("clients create = %s (%v)", out, err)
	}
	out, err = gh(t, db, "", "clients", "create", "--name", "spa", "--public", "--redirect-uri", "http://127.0.0.1:3000/cb", "-o", "json")
	if err != nil || strings.Contains(out, "client_secret") {
		t.Fatalf("public client = %s %v, want no secret", out, err)
	}
	for _, bad := range [][]string{
		{"clients", "create", "--name", "x", "--redirect-uri", "javascript:alert(1)"},
		{"clients", "create", "--name", "x", "--redirect-uri", "https://*.example/cb"},
		{"clients", "create", "--name", "x", "--redirect-uri", "http://app.example/cb"},
		{"clients", "create", "--name", "x", "--grant-type", "password"},
		{"clients", "create", "--name", "x", "--public", "--grant-type", "client_credentials"},
	} {
		if _, err := gh(t, db, "", bad...); err == nil {
			t.Errorf("gatehouse %v succeeded, want a validation error (AUTHZ-13)", bad)
		}
	}
	out, err = gh(t, db, "hunter2hunter2\n", "users", "create", "--email", "Alice@Example.com", "--password-stdin", "--verified", "--output", "json")
	if err != nil || !strings.Contains(out, `"id"`) || !strings.Contains(out, `"email": "Alice@Example.com"`) {
		t.Fatalf("users create = %s %v", out, err)
	}
	if _, err := gh(t, db, "hunter2hunter2\n", "users", "create", "--email", "alice@example.com", "--password-stdin"); err == nil {
		t.Error("a second user with the same email (other case) was created")
	}
	if _, err := gh(t, db, "short\n", "users", "create", "--email", "bob@example.com", "--password-stdin"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if _, err := gh(t, db, "", "users", "create", "--email", "bob@example.com"); err == nil {
		t.Error("users create without a terminal or --password-stdin succeeded")
	}
	if _, err := gh(t, db, "", "keys", "rotate"); err != nil {
		t.Fatal(err)
	}
	out, err = gh(t, db, "", "keys", "list", "--output", "json")
	if err != nil || strings.Count(out, `"retired"`) != 2 || strings.Count(out, `"active"`) != 2 || strings.Count(out, `"next"`) != 2 {
		t.Errorf("keys after rotate = %s %v, want 2 retired, 2 active, 2 next", out, err)
	}
	if out, err := gh(t, db, "", "migrate", "status"); err != nil || !strings.Contains(out, "00001_init.sql") {
		t.Errorf("migrate status = %s %v", out, err)
	}
	if out, err := gh(t, db, "", "users", "list", "-o", "json"); err != nil || strings.Contains(out, "argon2") {
		t.Errorf("users list = %s %v (must never print hashes)", out, err)
	}
}

// TestServeStartsAndDrains starts `gatehouse serve` on a free port with no configuration but
// the database, checks readiness and discovery, then cancels (SIGTERM) and expects a clean exit.
func TestServeStartsAndDrains(t *testing.T) {
	dir := t.TempDir()
	addr, raddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--database", "sqlite:" + filepath.Join(dir, "g.db"), "--idp-addr", addr, "--resource-addr", raddr, "--resource-audience", "http://" + raddr, "--metrics-addr", "127.0.0.1:0", "--issuer", "http://" + addr, "--log-format", "json"},
			func(string) string { return "" }, strings.NewReader(""), &out, io.Discard)
	}()
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		resp, err = http.Get("http://" + addr + "/readyz")
		if err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + addr + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if meta["issuer"] != "http://"+addr {
		t.Errorf("issuer = %v", meta["issuer"])
	}
	// The resource API runs beside the provider and refuses a request without a token, pointing
	// at its RFC 9728 metadata (RS-10).
	resp, err = http.Get("http://" + raddr + "/api/v1/todos")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "resource_metadata=") {
		t.Errorf("GET /api/v1/todos without a token = %d %q, want 401 with resource_metadata", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// The policy admin API is on the provider's listener and wants a token.
	resp, err = http.Get("http://" + addr + "/admin/v1/policies")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("GET /admin/v1/policies without a token = %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	for _, p := range []string{"/openapi.json", "/.well-known/oauth-protected-resource"} {
		resp, err = http.Get("http://" + raddr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve exited with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	if !strings.Contains(out.String(), "Gatehouse is running") {
		t.Errorf("serve printed %q, want where to go next", out.String())
	}
}

// TestProductionRefusesUnsafe checks that --production turns warnings into errors.
func TestProductionRefusesUnsafe(t *testing.T) {
	err := run(t.Context(), []string{"serve", "--production", "--database", "sqlite:" + filepath.Join(t.TempDir(), "g.db"), "--idp-addr", "127.0.0.1:0"},
		func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "GATEHOUSE_SECRET") {
		t.Errorf("serve --production without a secret = %v, want an error naming GATEHOUSE_SECRET", err)
	}
	err = run(t.Context(), []string{"serve", "--database", "sqlite:" + filepath.Join(t.TempDir(), "g.db"), "--access-token-alg", "HS256"},
		func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "access-token-alg") {
		t.Errorf("serve --access-token-alg HS256 = %v, want an error naming the setting", err)
	}
}

// TestServeRejectsBadLimits checks that rates and the Redis URL are validated at start, with an
// error naming the setting (and no password from the URL).
func TestServeRejectsBadLimits(t *testing.T) {
	env := func(k, v string) func(string) string {
		return func(name string) string {
			if name == k {
				return v
			}
			return ""
		}
	}
	for _, c := range []struct{ env, value, want string }{
		{"GATEHOUSE_LOGIN_RATE", "ten-M", "GATEHOUSE_LOGIN_RATE"},
		{"GATEHOUSE_TOKEN_RATE", "10-X", "GATEHOUSE_TOKEN_RATE"},
		{"GATEHOUSE_TOKEN_CLIENT_RATE", "0-M", "GATEHOUSE_TOKEN_CLIENT_RATE"},
		{"GATEHOUSE_INTROSPECT_RATE", "5", "GATEHOUSE_INTROSPECT_RATE"},
		{"GATEHOUSE_REDIS_URL", "http://:s3cret@host", "GATEHOUSE_REDIS_URL"},
		{"GATEHOUSE_REDIS_URL", "redis://:s3cret@127.0.0.1:1/0", "GATEHOUSE_REDIS_URL"},
		{"GATEHOUSE_PASSWORD_CHECK_RATE", "lots", "GATEHOUSE_PASSWORD_CHECK_RATE"},
		{"GATEHOUSE_REFUSAL_DELAY", "-1s", "GATEHOUSE_REFUSAL_DELAY"},
		{"GATEHOUSE_REFUSAL_DELAY", "2h", "GATEHOUSE_REFUSAL_DELAY"},
		{"GATEHOUSE_REFUSAL_DELAY", "soon", "GATEHOUSE_REFUSAL_DELAY"},
		{"GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_ID", "rs", "GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_SECRET"},
		{"GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_SECRET", "s3cret", "GATEHOUSE_RESOURCE_INTROSPECTION_CLIENT_ID"},
	} {
		err := run(t.Context(), []string{"serve", "--database", "sqlite:" + filepath.Join(t.TempDir(), "g.db"), "--idp-addr", "127.0.0.1:0", "--metrics-addr", ""},
			env(c.env, c.value), strings.NewReader(""), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s=%s: %v, want an error naming %s", c.env, c.value, err, c.want)
		}
	}
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
