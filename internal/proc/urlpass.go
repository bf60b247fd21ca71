package proc

import (
	"bytes"
	"regexp"
	"strings"
)

// This file is the one place that knows what a password in a URL looks
// like: whatever is shown (a command line, a tool's own error text, a
// report) has it masked, and the plan's checks refuse one with
// HasURLPassword (it would sit in a process's environment or argv, the
// report and the state file).

// urlSchemeRE finds where a URL's authority starts ("scheme://").
var urlSchemeRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://`)

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
func MaskURLPasswords(s string) string { return ReplaceURLPasswords(s, Masked) }

// ReplaceURLPasswords returns s with the password of every URL in it
// replaced by with: the plan stored in a repository marks each one so
// that recover can name it.
func ReplaceURLPasswords(s, with string) string {
	spans := urlPasswords(s)
	for i := len(spans) - 1; i >= 0; i-- {
		s = s[:spans[i][0]] + with + s[spans[i][1]:]
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

// HasURLPassword reports whether s holds a URL with a password: what the
// plan's checks refuse, as the same test that masks one.
func HasURLPassword(s string) bool { return len(urlPasswords(s)) > 0 }

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
