package idp

import (
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the key under which an email is unique: NFKC-normalized, trimmed and in
// lower case, so "Alice@Example.com " and "alice@example.com" are one account (AN-09).
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFKC.String(email)))
}

// MinPasswordLength is the default and the least allowed minimum length of a password, in
// characters (NIST SP 800-63B §3.1.1.2); MaxPasswordLength bounds the bytes a form may send.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 4 * MaxPasswordRunes
)

// ValidatePassword checks a new password against the rules of CheckPassword with the default
// minimum and no email.
func ValidatePassword(pw string) error { return CheckPassword(pw, "", MinPasswordLength) }

// ValidateEmail does the light syntax check that registration and the CLI apply.
func ValidateEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != strings.TrimSpace(email) || len(email) > 254 {
		return fmt.Errorf("email %q: not a valid address", email)
	}
	return nil
}
