package mail_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/idp"
	"github.com/gatehouse-id/gatehouse/idp/mail"
)

// TestOutbox: one .eml file per mail, readable only by the owner, with the text; the log names
// the recipient and subject but never the text (which holds the link token).
func TestOutbox(t *testing.T) {
	var logs bytes.Buffer
	dir := filepath.Join(t.TempDir(), "outbox")
	ob, err := mail.NewOutbox(dir, "Gatehouse <noreply@example.com>", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "https://id.example/reset/confirm?token=SECRETTOKEN"
	for range 2 {
		if err := ob.Send(t.Context(), idp.Message{To: "alice@example.com", Subject: "Reset your password", Text: "Open " + secret}); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 2 {
		t.Fatalf("%d files, want 2", len(files))
	}
	fi, err := os.Stat(files[0])
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mail file mode %v, %v; want 0600", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(files[0])
	for _, want := range []string{"To: <alice@example.com>", "Subject: Reset your password", "SECRETTOKEN"} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("mail file lacks %q:\n%s", want, raw)
		}
	}
	if !strings.Contains(logs.String(), "alice@example.com") || strings.Contains(logs.String(), "SECRETTOKEN") {
		t.Fatalf("log: %s", logs.String())
	}
	if err := ob.Send(t.Context(), idp.Message{To: "not an address", Subject: "x"}); err == nil {
		t.Fatal("a bad recipient was accepted")
	}
}

// TestSMTPURL: GATEHOUSE_SMTP_URL is validated at start with a message that names it and never
// shows the password.
func TestSMTPURL(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, ok := range []string{
		"smtp://user:pass@mail.example.com:587",
		"smtps://user:pass@mail.example.com",
		"smtp://mail.example.com?from=ops@example.com",
		"smtp://localhost:1025?tls=none",
		"smtp://127.0.0.1:1025?tls=opportunistic",
	} {
		if _, err := mail.NewSMTP(ok, "noreply@example.com", log); err != nil {
			t.Errorf("NewSMTP(%s) = %v", ok, err)
		}
	}
	for _, bad := range []string{
		"http://user:hunter2@mail.example.com",
		"smtp://user:hunter2@",
		"smtp://user:hunter2@mail.example.com:99999",
		"smtp://user:hunter2@mail.example.com?tls=none",
		"smtp://user:hunter2@mail.example.com?tls=maybe",
		"smtp://user:hunter2@mail.example.com?from=not-an-address",
		"::not a url",
	} {
		_, err := mail.NewSMTP(bad, "noreply@example.com", log)
		if err == nil {
			t.Errorf("NewSMTP(%s) accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "GATEHOUSE_SMTP_URL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewSMTP(%s) = %v: must name the setting and hide the password", bad, err)
		}
	}
}
