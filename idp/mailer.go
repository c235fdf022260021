package idp

import (
	"context"
	"log/slog"
	"time"
)

// Message is one plain-text mail to a user.
type Message struct {
	To      string
	Subject string
	Text    string
}

// Mailer delivers mail. idp/mail has the SMTP and outbox (files) implementations; without one the
// server only logs each mail's recipient and subject.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// logMailer logs that a mail would go out: recipient and subject only, never the text, which
// carries the link token.
type logMailer struct{ log *slog.Logger }

func (l logMailer) Send(_ context.Context, m Message) error {
	l.log.Info("mail not sent: no mailer configured", "to", m.To, "subject", m.Subject)
	return nil
}

// mailTimeout bounds one delivery.
const mailTimeout = 30 * time.Second

// sendMail delivers m in the background, so that a slow SMTP server neither delays the answer
// nor makes its timing tell whether an account exists (AN-03). Failures are logged with the
// recipient and subject only.
func (s *Server) sendMail(m Message) {
	s.mailWG.Add(1)
	go func() {
		defer s.mailWG.Done()
		ctx, cancel := context.WithTimeout(context.Background(), mailTimeout)
		defer cancel()
		if err := s.mailer.Send(ctx, m); err != nil {
			s.log.Error("send mail", "to", m.To, "subject", m.Subject, "err", err)
		}
	}()
}

// WaitMail waits until every mail handed to the mailer so far is delivered or failed. Call it
// before shutting down.
func (s *Server) WaitMail() { s.mailWG.Wait() }
