package drivers

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
)

// This file is the one place that knows what a password in a URL looks
// like: plan checks refuse one (it would sit in a process's environment or
// argv, the report and the state file), and whatever is shown anyway (a
// command line, a tool's own error text, a report) has it masked.

// urlSchemeRE finds where a URL's authority starts ("scheme://").
var urlSchemeRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://`)

// scpPasswordRE is user:password@host: at the start of an scp-like
// location (borg's and rsync's user@host:path, restic's sftp:user@host:path).
// The password may not hold a '/': "host:dir/user@x:y" is a path.
var scpPasswordRE = regexp.MustCompile(`^[^/:@\s]+:[^/@\s]*@([^/:@\s\[]+|\[[0-9A-Fa-f:.]+\]):`)

// urlPasswords returns the [start, end) offsets of the password of every
// URL in s, which may be free text (a tool's message).
func urlPasswords(s string) [][2]int {
	var spans [][2]int
	for _, m := range urlSchemeRE.FindAllStringIndex(s, -1) {
		at := m[1]
		rest := s[at:]
		// In free text a URL ends at white space or a quote.
		token := rest[:indexAnyOrLen(rest, " \t\r\n\"'`<>")]
		// RFC 3986: the authority ends at the first '/', '?' or '#', and
		// the userinfo is what comes before its last '@'; a ':' in the
		// userinfo starts the password.
		auth := token[:indexAnyOrLen(token, "/?#")]
		if a := strings.LastIndexByte(auth, '@'); a >= 0 {
			if c := strings.IndexByte(auth[:a], ':'); c >= 0 {
				spans = append(spans, [2]int{at + c + 1, at + a})
			}
			continue
		}
		// A password holding an unescaped '/', '?' or '#' ends the
		// authority early ("user:pa/ss@host"); the tools then reject the
		// URL and print it whole. What follows the colon is then no port,
		// and an '@' comes later.
		c := strings.IndexByte(auth, ':')
		if c < 0 || strings.HasPrefix(auth, "[") || allDigits(auth[c+1:]) {
			continue
		}
		if a := strings.IndexByte(token[c:], '@'); a >= 0 {
			spans = append(spans, [2]int{at + c + 1, at + c + a})
		}
	}
	return spans
}

// MaskURLPasswords returns s with the password of every URL in it
// replaced by Masked: "ssh://user:***@host/repo". It is applied to every
// command line shown, to tools' error output and to reports.
func MaskURLPasswords(s string) string {
	spans := urlPasswords(s)
	for i := len(spans) - 1; i >= 0; i-- {
		s = s[:spans[i][0]] + Masked + s[spans[i][1]:]
	}
	return s
}

// maskURLPasswordBytes is MaskURLPasswords for a tool's output, copying
// only when there is something to mask.
func maskURLPasswordBytes(b []byte) []byte {
	if !bytes.Contains(b, []byte("://")) {
		return b
	}
	return []byte(MaskURLPasswords(string(b)))
}

// hasPassword reports a URL with a password anywhere in s, or, when scp
// is set, an scp-like location starting user:password@host:.
func hasPassword(s string, scp bool) bool {
	return len(urlPasswords(s)) > 0 || scp && scpPasswordRE.MatchString(s)
}

// passwordErr is the error of a value holding a password. It never repeats
// the value; advice says where the secret belongs instead.
func passwordErr(advice string) error {
	return errors.New("contains a password; " + advice + ", so it never appears in a process list, a log or a report")
}

// noPassword returns an Option.Check refusing a value holding a password
// (in a URL, or, with scp, as user:password@host:path).
func noPassword(scp bool, advice string) func(v any) error {
	return func(v any) error {
		if hasPassword(v.(string), scp) {
			return passwordErr(advice)
		}
		return nil
	}
}

func indexAnyOrLen(s, chars string) int {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return i
	}
	return len(s)
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
