package sqlstore

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/gatehouse-id/gatehouse/resource"
)

// maxCursorLength bounds what decodeCursor looks at: a real cursor is far shorter.
const maxCursorLength = 2048

// cursor is the position after the last row of a page.
type cursor struct {
	Sort string `json:"s"`           // the sort key's name ("created_at", …)
	Desc bool   `json:"d,omitempty"` // the direction
	Num  *int64 `json:"n,omitempty"` // the last row's sort value, for an integer key
	Str  string `json:"t,omitempty"` // the last row's sort value, for a text key
	ID   string `json:"i"`           // the last row's id: the tie-breaker
}

var errBadCursor = resource.Invalid("cursor", "not a cursor of this list: start again without one")

// mac authenticates payload as a cursor of list kind for owner.
func (s *Store) mac(kind, owner string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("gatehouse-cursor\x00" + kind + "\x00" + owner + "\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// encodeCursor returns the opaque form of c.
func (s *Store) encodeCursor(kind, owner string, c cursor) string {
	payload, err := json.Marshal(c)
	if err != nil {
		panic(err) // a struct of strings, bools and ints always marshals
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(s.mac(kind, owner, payload))
}

// decodeCursor verifies and decodes a cursor of list kind for owner; any failure is the same
// ErrInvalid, so that a client learns nothing about why.
func (s *Store) decodeCursor(kind, owner, raw string) (cursor, error) {
	if len(raw) > maxCursorLength {
		return cursor{}, errBadCursor
	}
	p, m, ok := strings.Cut(raw, ".")
	if !ok {
		return cursor{}, errBadCursor
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	sum, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(sum, s.mac(kind, owner, payload)) {
		return cursor{}, errBadCursor
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.ID == "" {
		return cursor{}, errBadCursor
	}
	return c, nil
}
