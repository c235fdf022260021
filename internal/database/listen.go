package database

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/lib/pq"
)

// Notification is one event of Listen: the payload of a NOTIFY, or Reconnected after the
// listening connection was (re)established. Notifications sent while it was down are lost, so on
// Reconnected the listener must reread whatever the notifications announce.
type Notification struct {
	Payload     string
	Reconnected bool
}

// ListenApplicationName is the application_name of Listen's connections (pg_stat_activity).
const ListenApplicationName = "gatehouse-listen"

// Listen runs LISTEN channel on a PostgreSQL connection of its own (lib/pq's Listener, which
// reconnects by itself) and delivers its events until ctx is done, then closes the channel. It
// returns at once, even while the database is unreachable; a Reconnected event comes each time
// the connection listens again, the first time included. The channel is also closed if the
// server refuses the LISTEN.
func Listen(ctx context.Context, rawURL, channel string) (<-chan Notification, error) {
	dialect, dsn, _, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	if dialect != Postgres {
		return nil, errors.New("listen: LISTEN/NOTIFY needs PostgreSQL")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("listen: not a valid postgres:// URL")
	}
	q := u.Query()
	q.Del("binary_parameters")
	if q.Get("application_name") == "" {
		q.Set("application_name", ListenApplicationName)
	}
	u.RawQuery = q.Encode()

	reconnected := make(chan struct{}, 1)
	l := pq.NewListener(u.String(), 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, _ error) {
		if ev == pq.ListenerEventReconnected {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}
	})
	out := make(chan Notification, 16)
	go func() {
		defer close(out)
		// l.Listen waits for the first connection; Close (deferred, or at ctx's end) ends the wait.
		listening := make(chan error, 1)
		go func() { listening <- l.Listen(channel) }()
		wait := listening // nil once Listen returned
		defer func() {
			l.Close()
			if wait != nil {
				<-wait
			}
		}()
		// Ping finds a dead connection that no read has noticed; the Listener then reconnects.
		ping := time.NewTicker(10 * time.Second)
		defer ping.Stop()
		send := func(n Notification) bool {
			select {
			case out <- n:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-wait:
				wait = nil
				if err != nil || !send(Notification{Reconnected: true}) {
					return
				}
			case <-reconnected:
				if !send(Notification{Reconnected: true}) {
					return
				}
			case n := <-l.Notify:
				// nil: the connection was re-established (reported through reconnected).
				if n != nil && !send(Notification{Payload: n.Extra}) {
					return
				}
			case <-ping.C:
				_ = l.Ping()
			}
		}
	}()
	return out, nil
}
