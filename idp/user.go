package idp

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the key under which an email is unique: NFKC-normalized, trimmed and in
// lower case, so "Alice@Example.com " and "alice@example.com" are one account (AN-09).
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(norm.NFKC.String(email)))
}

// Password limits (NIST SP 800-63B §3.1.1.2): at least MinPasswordLength characters, counted in
// Unicode code points; long passphrases allowed; no composition rules.
const (
	MinPasswordLength = 8
	MaxPasswordLength = 1024 // bytes: bounds hashing work
)

// ValidatePassword checks a new password against the length rules.
func ValidatePassword(pw string) error {
	if utf8.RuneCountInString(norm.NFC.String(pw)) < MinPasswordLength {
		return fmt.Errorf("password: at least %d characters", MinPasswordLength)
	}
	if len(pw) > MaxPasswordLength {
		return fmt.Errorf("password: at most %d bytes", MaxPasswordLength)
	}
	if !utf8.ValidString(pw) {
		return errors.New("password: not valid UTF-8")
	}
	return nil
}

// ValidateEmail does the light syntax check that registration and the CLI apply.
func ValidateEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != strings.TrimSpace(email) || len(email) > 254 {
		return fmt.Errorf("email %q: not a valid address", email)
	}
	return nil
}
