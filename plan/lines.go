package plan

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// lineIndex finds the line a key is on. The TOML decoder keeps key
// positions to itself, so this is a small scan of the source: table
// headers and `key =` lines. It is best effort; 0 means "not found".
type lineIndex struct {
	lines []string
}

func newLineIndex(src []byte) *lineIndex {
	return &lineIndex{lines: strings.Split(string(src), "\n")}
}

var (
	headerRE = regexp.MustCompile(`^\s*\[\[?\s*((?:"(?:[^"\\]|\\.)*"|'[^']*'|[^\]"'])+?)\s*\]\]?\s*(#.*)?$`)
	keyRE    = regexp.MustCompile(`^\s*((?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_.\- \t])+?)\s*=`)
)

// splitKey turns `targets."my.db"` or `targets . db` into its parts,
// unquoting quoted parts (a dot inside quotes is part of the name).
func splitKey(s string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '.':
			parts = append(parts, cur.String())
			cur.Reset()
		case ' ', '\t':
			// Around a dot or a quoted part; a bare key holds no blanks.
		case '"', '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if c == '"' && s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				j = len(s) - 1
			}
			quoted := s[i : j+1]
			if c == '"' {
				if u, err := strconv.Unquote(quoted); err == nil {
					cur.WriteString(u)
				} else {
					cur.WriteString(strings.Trim(quoted, `"`))
				}
			} else {
				cur.WriteString(strings.Trim(quoted, `'`))
			}
			i = j
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

func samePath(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// find returns the line of path: the `key =` line inside the table made of
// the leading elements, or the table's header itself.
func (x *lineIndex) find(path []string) int {
	var table []string
	for i, line := range x.lines {
		if m := headerRE.FindStringSubmatch(line); m != nil {
			table = splitKey(m[1])
			if samePath(table, path) {
				return i + 1
			}
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			key := append(append([]string{}, table...), splitKey(m[1])...)
			if samePath(key, path) {
				return i + 1
			}
		}
	}
	// Not found as such: fall back to the enclosing table or key.
	if len(path) > 1 {
		return x.find(path[:len(path)-1])
	}
	return 0
}

// plainKeyRE is a TOML bare key: shown as it is.
var plainKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyString shows a key path as it would be written in TOML: parts that
// are not bare keys are quoted, with control characters escaped, so a
// hostile name can neither hide nor break the line it is reported on.
func keyString(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		if plainKeyRE.MatchString(p) {
			parts[i] = p
			continue
		}
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range p {
			switch {
			case r == '"' || r == '\\':
				b.WriteString(`\` + string(r))
			case r > 0xffff:
				fmt.Fprintf(&b, `\U%08X`, r)
			case r == utf8.RuneError || !unicode.IsPrint(r):
				fmt.Fprintf(&b, `\u%04X`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
		parts[i] = b.String()
	}
	return strings.Join(parts, ".")
}
