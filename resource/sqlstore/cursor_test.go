package sqlstore

import (
	"errors"
	"testing"

	"github.com/gatehouse-id/gatehouse/resource"
)

func testStore(key string) *Store { return &Store{key: []byte(key)} }

func TestCursorRoundTrip(t *testing.T) {
	s := testStore("0123456789abcdef0123456789abcdef")
	n := int64(1234567890123)
	for _, c := range []cursor{
		{Sort: "created_at", Num: &n, ID: "ID1"},
		{Sort: "title", Desc: true, Str: "a \"quoted\" title . with dots", ID: "ID2"},
		{Sort: "name", Str: "", ID: "x"},
	} {
		raw := s.encodeCursor("todos", "owner", c)
		got, err := s.decodeCursor("todos", "owner", raw)
		if err != nil || got.Sort != c.Sort || got.Desc != c.Desc || got.Str != c.Str || got.ID != c.ID || (got.Num == nil) != (c.Num == nil) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", c, got, err)
		}
		for _, tt := range []struct{ name, kind, owner string }{{"other list", "categories", "owner"}, {"other owner", "todos", "owner2"}} {
			if _, err := s.decodeCursor(tt.kind, tt.owner, raw); !errors.Is(err, resource.ErrInvalid) {
				t.Errorf("%s: decode = %v, want ErrInvalid", tt.name, err)
			}
		}
		if _, err := testStore("another key of thirty-two bytes!").decodeCursor("todos", "owner", raw); !errors.Is(err, resource.ErrInvalid) {
			t.Errorf("other key: decode = %v, want ErrInvalid", err)
		}
	}
}

// FuzzDecodeCursor checks that no input panics the decoder, that every rejection is ErrInvalid
// and that nothing without an id is accepted.
func FuzzDecodeCursor(f *testing.F) {
	s := testStore("0123456789abcdef0123456789abcdef")
	n := int64(42)
	f.Add(s.encodeCursor("todos", "o", cursor{Sort: "created_at", Num: &n, ID: "a"}))
	f.Add("")
	f.Add(".")
	f.Add("e30.AAAA")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := s.decodeCursor("todos", "o", raw)
		if err != nil {
			if !errors.Is(err, resource.ErrInvalid) {
				t.Fatalf("decode(%q) = %v, want ErrInvalid", raw, err)
			}
			return
		}
		if c.ID == "" {
			t.Fatalf("decode(%q) accepted a cursor without id", raw)
		}
	})
}
