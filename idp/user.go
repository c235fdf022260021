package idp

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the key under which an email is unique: NFKC-normalized, trimmed and in
// lower case, so "Alice@Example.com " and "alice@example.com" are one account (AN-09).
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFKC.String(email)))
}
