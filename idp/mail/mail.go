// Package mail delivers the provider's mail (idp.Mailer): over SMTP with
// github.com/wneessen/go-mail, configured by one URL, or into an outbox folder, one .eml file per
// mail, for development and tests. Both log each mail's recipient and subject, never its text,
// which carries single-use link tokens.
package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/gatehouse-id/gatehouse/idp"
)

// message builds the MIME message of m.
func message(from string, m idp.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	if err := msg.From(from); err != nil {
		return nil, fmt.Errorf("mail from %q: %w", from, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail to %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

// Outbox writes every mail as an .eml file into a folder (created 0700, files 0600: they hold
// live links) and logs its recipient and subject.
type Outbox struct {
	dir, from string
	log       *slog.Logger
}

var _ idp.Mailer = (*Outbox)(nil)

// NewOutbox returns an outbox writing into dir, which is created with the first mail.
func NewOutbox(dir, from string, log *slog.Logger) (*Outbox, error) {
	if dir == "" {
		return nil, errors.New("mail outbox: no folder given")
	}
	if _, err := message(from, idp.Message{To: from}); err != nil {
		return nil, fmt.Errorf("mail outbox: sender: %w", err)
	}
	return &Outbox{dir: dir, from: from, log: log}, nil
}

// Dir is the outbox folder.
func (o *Outbox) Dir() string { return o.dir }

// Send writes m to a new file named by time and a random suffix, so files sort by age.
func (o *Outbox) Send(_ context.Context, m idp.Message) error {
	msg, err := message(o.from, m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := filepath.Join(o.dir, time.Now().UTC().Format("20060102T150405.000000000Z")+"-"+hex.EncodeToString(b)+".eml")
	// Written under a temporary name and renamed, so a reader never sees half a mail.
	tmp := filepath.Join(o.dir, "."+filepath.Base(name)+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("mail outbox: %w", err)
	}
	_, err = msg.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("mail outbox: write %s: %w", filepath.Base(name), err)
	}
	o.log.Info("mail written to the outbox", "to", m.To, "subject", m.Subject, "file", filepath.Base(name))
	return nil
}

// SMTP sends mail through an SMTP server.
type SMTP struct {
	mu     sync.Mutex // one session at a time on the client
	client *gomail.Client
	from   string
	log    *slog.Logger
}

var _ idp.Mailer = (*SMTP)(nil)

// NewSMTP configures SMTP from a URL (GATEHOUSE_SMTP_URL):
//
//	smtp://user:pass@host:587   STARTTLS, required (default port 587)
//	smtps://user:pass@host:465  TLS from the first byte (default port 465)
//
// The query may set from=address (the sender; default: the from argument) and, for a relay on
// the same machine only, tls=opportunistic or tls=none. With a user name the client
// authenticates with the strongest mechanism the server offers. The password is never logged;
// errors name the URL without it.
func NewSMTP(rawURL, from string, log *slog.Logger) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("GATEHOUSE_SMTP_URL: not a URL (want smtp://user:pass@host:port or smtps://…)")
	}
	shown := u.Redacted()
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("GATEHOUSE_SMTP_URL %s: no host", shown)
	}
	q := u.Query()
	if f := q.Get("from"); f != "" {
		from = f
	}
	var opts []gomail.Option
	port := 587
	switch u.Scheme {
	case "smtp":
		switch q.Get("tls") {
		case "", "mandatory":
			opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSMandatory))
		case "opportunistic", "none":
			if !isLoopback(u.Hostname()) {
				return nil, fmt.Errorf("GATEHOUSE_SMTP_URL %s: tls=%s only for a relay on this machine", shown, q.Get("tls"))
			}
			policy := gomail.TLSOpportunistic
			if q.Get("tls") == "none" {
				policy = gomail.NoTLS
			}
			opts = append(opts, gomail.WithTLSPolicy(policy))
		default:
			return nil, fmt.Errorf("GATEHOUSE_SMTP_URL %s: tls=%q, want mandatory, opportunistic or none", shown, q.Get("tls"))
		}
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("GATEHOUSE_SMTP_URL %s: scheme %q, want smtp or smtps", shown, u.Scheme)
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("GATEHOUSE_SMTP_URL %s: bad port", shown)
		}
	}
	opts = append(opts, gomail.WithPort(port), gomail.WithTimeout(20*time.Second))
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(user), gomail.WithPassword(pass))
	}
	if _, err := message(from, idp.Message{To: from}); err != nil {
		return nil, fmt.Errorf("GATEHOUSE_SMTP_URL %s: sender: %w", shown, err)
	}
	c, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("GATEHOUSE_SMTP_URL %s: %w", shown, err)
	}
	return &SMTP{client: c, from: from, log: log}, nil
}

// Send delivers m in one SMTP session.
func (s *SMTP) Send(ctx context.Context, m idp.Message) error {
	msg, err := message(s.from, m)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	s.log.Info("mail sent", "to", m.To, "subject", m.Subject)
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
