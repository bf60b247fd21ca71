package plan

import (
	"fmt"
	"regexp"
	"strings"
)

// varRE matches ${VAR} and ${VAR:-default}; $$ is a literal $.
var varRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expandVars replaces variable references in s. It returns the names of
// variables that are unset and have no default.
func expandVars(s string, lookup func(string) (string, bool)) (string, []string) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := varRE.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok && v != "" {
			return v
		}
		if sub[2] != "" {
			return sub[3]
		}
		if v, ok := lookup(sub[1]); ok {
			return v // set but empty, and no default: take it as it is
		}
		missing = append(missing, sub[1])
		return m
	})
	return out, missing
}

// expand expands every string inside a decoded TOML value, recording a
// problem for each unset variable.
func (l *loader) expand(path []string, v any) any {
	switch x := v.(type) {
	case string:
		s, missing := expandVars(x, l.lookup)
		for _, name := range missing {
			l.problem(path, "environment variable %s is not set (use ${%s:-default} for a default)", name, name)
		}
		return s
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = l.expand(path, e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = l.expand(append(append([]string{}, path...), k), e)
		}
		return out
	}
	return v
}

func (l *loader) expandString(path []string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		l.problem(path, "must be a string")
		return "", false
	}
	before := l.count()
	s = l.expand(path, s).(string)
	return s, l.count() == before
}

// suggest returns " (did you mean X?)" for the closest known name, or "".
func suggest(name string, known []string) string {
	best, bestDist := "", 1<<30
	for _, k := range known {
		if d := editDistance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best == "" || bestDist > max(2, len(name)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Damerau-Levenshtein (optimal string alignment)
// distance, so a swapped pair such as "dialy" is one edit.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
