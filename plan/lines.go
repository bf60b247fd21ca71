package plan

import (
	"regexp"
	"strings"
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
	headerRE = regexp.MustCompile(`^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$`)
	keyRE    = regexp.MustCompile(`^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+)\s*=`)
)

// normKey turns `targets."my db"` or `targets . db` into targets.my db.
func normKey(s string) string {
	parts := strings.Split(s, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}

// find returns the line of path: the `key =` line inside the table made of
// the leading elements, or the table's header itself.
func (x *lineIndex) find(path []string) int {
	full := strings.Join(path, ".")
	table := ""
	for i, line := range x.lines {
		if m := headerRE.FindStringSubmatch(line); m != nil {
			table = normKey(m[1])
			if table == full {
				return i + 1
			}
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			key := normKey(m[1])
			if table != "" {
				key = table + "." + key
			}
			if key == full {
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
