package mail_test

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
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

// fakeSMTP is a minimal SMTP server on loopback that records each message's data.
func fakeSMTP(t *testing.T) (addr string, got chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r, w := bufio.NewReader(c), bufio.NewWriter(c)
				say := func(s string) { w.WriteString(s + "\r\n"); w.Flush() }
				say("220 fake ESMTP")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					cmd := strings.ToUpper(strings.TrimSpace(line))
					switch {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						say("250-fake\r\n250 8BITMIME")
					case strings.HasPrefix(cmd, "DATA"):
						say("354 go on")
						var data strings.Builder
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
							data.WriteString(l)
						}
						got <- data.String()
						say("250 queued")
					case strings.HasPrefix(cmd, "QUIT"):
						say("221 bye")
						return
					default: // MAIL, RCPT, RSET, NOOP
						say("250 ok")
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), got
}

// TestSMTPSend delivers a mail through go-mail to a fake SMTP server on loopback.
func TestSMTPSend(t *testing.T) {
	addr, got := fakeSMTP(t)
	var logs bytes.Buffer
	s, err := mail.NewSMTP("smtp://"+addr+"?tls=none", "Gatehouse <noreply@example.com>", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), idp.Message{To: "alice@example.com", Subject: "Confirm your email address", Text: "token=SECRETTOKEN"}); err != nil {
		t.Fatalf("Send = %v", err)
	}
	data := <-got
	for _, want := range []string{"To: <alice@example.com>", "From: \"Gatehouse\" <noreply@example.com>", "Subject: Confirm your email address", "SECRETTOKEN"} {
		if !strings.Contains(data, want) {
			t.Fatalf("message lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(logs.String(), "SECRETTOKEN") || !strings.Contains(logs.String(), "alice@example.com") {
		t.Fatalf("log: %s", logs.String())
	}
}
