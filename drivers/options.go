package drivers

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Kind is the TOML type an option takes.
type Kind int

const (
	String     Kind = iota
	Int             // a TOML integer
	Bool            // a TOML boolean
	StringList      // an array of strings
	Duration        // a string such as "90m" or "2h"
	StringMap       // a table of string values
	CodeTable       // a table {ok = [..], warning = [..], error = [..]} of exit codes
)

func (k Kind) String() string {
	return [...]string{"a string", "an integer", "a boolean", "an array of strings", "a duration string", "a table of strings", "an exit-code table"}[k]
}

// Option declares one plan key, once: the same declaration drives
// validation, "did you mean", the README tables and the test that the
// example plan shows every key.
type Option struct {
	Name     string
	Kind     Kind
	Help     string
	Default  string // shown in docs; the driver applies it
	Required bool   // "one of these keys" rules live in a driver's Validate
	// Unless waives Required when this other key is set (restic's paths
	// unless copy_from): the key is then one of two ways to say what the
	// target does, and the driver's Validate refuses both at once.
	Unless   string
	Enum     []string // allowed values of a String option
	Min, Max int      // inclusive range of an Int option, when Max > Min
	// Check is an extra test of an already well-typed value.
	Check func(v any) error
}

// KeepOptions declares retention counts (keep_daily, ...), each passed to
// the tool's retention command as --keep-daily and so on.
func KeepOptions(keeps []string, command string) []Option {
	var opts []Option
	for _, k := range keeps {
		opts = append(opts, Option{Name: k, Kind: Int, Min: 1, Max: 1000000,
			Help: "Retention: " + command + " --" + strings.ReplaceAll(k, "_", "-") + "."})
	}
	return opts
}

// Values holds a target's driver settings, already type-checked against the
// driver's Options: strings, ints, bools, []string, time.Duration,
// map[string]string.
type Values map[string]any

// HasRetention reports whether any retention key (keep_last, keep_daily,
// keep_within, keep_days, ...: every driver names them keep_*) is set: a
// target without one has no retention to apply, or to skip.
func (v Values) HasRetention() bool {
	for k, x := range v {
		if strings.HasPrefix(k, "keep_") && x != nil && x != 0 && x != "" {
			return true
		}
	}
	return false
}

// Str returns a string setting or "".
func (v Values) Str(name string) string { s, _ := v[name].(string); return s }

// Int returns an integer setting or def when unset.
func (v Values) Int(name string, def int) int {
	if n, ok := v[name].(int); ok {
		return n
	}
	return def
}

// Bool returns a boolean setting or def when unset.
func (v Values) Bool(name string, def bool) bool {
	if b, ok := v[name].(bool); ok {
		return b
	}
	return def
}

// List returns a string-list setting or nil.
func (v Values) List(name string) []string { l, _ := v[name].([]string); return l }

// Has reports whether the plan set the key.
func (v Values) Has(name string) bool { _, ok := v[name]; return ok }

// Convert checks a decoded TOML value against o and returns it in the Go
// type Values holds. Errors say what was expected, never the value itself
// (it could be a secret).
func (o Option) Convert(raw any) (any, error) {
	var val any
	switch o.Kind {
	case String:
		s, ok := raw.(string)
		if !ok {
			return nil, typeErr(o, raw)
		}
		if len(o.Enum) > 0 && !containsString(o.Enum, s) {
			return nil, fmt.Errorf("must be one of %s, not %q", strings.Join(o.Enum, ", "), s)
		}
		val = s
	case Int:
		n, ok := raw.(int64)
		if !ok {
			return nil, typeErr(o, raw)
		}
		if o.Max > o.Min && (n < int64(o.Min) || n > int64(o.Max)) {
			return nil, fmt.Errorf("must be between %d and %d, not %d", o.Min, o.Max, n)
		}
		val = int(n)
	case Bool:
		b, ok := raw.(bool)
		if !ok {
			return nil, typeErr(o, raw)
		}
		val = b
	case StringList:
		list, err := stringList(raw)
		if err != nil {
			return nil, typeErr(o, raw)
		}
		val = list
	case Duration:
		s, ok := raw.(string)
		if !ok {
			return nil, typeErr(o, raw)
		}
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("must be a positive duration such as \"90m\" or \"2h\", not %q", s)
		}
		val = d
	case StringMap:
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, typeErr(o, raw)
		}
		out := map[string]string{}
		for k, x := range m {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("%s: must be a string", k)
			}
			out[k] = s
		}
		val = out
	case CodeTable:
		codes, err := exitCodeTable(raw)
		if err != nil {
			return nil, err
		}
		val = codes
	}
	if o.Check != nil {
		if err := o.Check(val); err != nil {
			return nil, err
		}
	}
	return val, nil
}

func typeErr(o Option, raw any) error {
	return fmt.Errorf("must be %s, not %s", o.Kind, tomlType(raw))
}

func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date-time"
	}
	return fmt.Sprintf("%T", v)
}

func stringList(raw any) ([]string, error) {
	arr, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("not an array")
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("not a string")
		}
		out = append(out, s)
	}
	return out, nil
}

func exitCodeTable(raw any) (proc.ExitCodes, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return proc.ExitCodes{}, fmt.Errorf("must be a table such as { warning = [24], error = [3] }, not %s", tomlType(raw))
	}
	var codes proc.ExitCodes
	seen := map[int64]string{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, class := range keys {
		arr, ok := m[class].([]any)
		if !ok {
			return proc.ExitCodes{}, fmt.Errorf("%s: must be an array of exit codes", class)
		}
		var list []int
		for _, x := range arr {
			n, ok := x.(int64)
			if !ok || n < 0 || n > 255 {
				return proc.ExitCodes{}, fmt.Errorf("%s: exit codes are integers from 0 to 255", class)
			}
			if prev, dup := seen[n]; dup {
				return proc.ExitCodes{}, fmt.Errorf("exit code %d is listed as both %s and %s", n, prev, class)
			}
			seen[n] = class
			list = append(list, int(n))
		}
		switch class {
		case "ok":
			codes.OK = list
		case "warning":
			codes.Warning = list
		case "error":
			codes.Error = list
		default:
			return proc.ExitCodes{}, fmt.Errorf("unknown class %q (use ok, warning or error)", class)
		}
	}
	return codes, nil
}

// envNameRE is a portable environment variable name (POSIX: letters,
// digits and '_', not starting with a digit).
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnvName reports whether name can be given to a child as NAME=value:
// a name holding '=' would set another variable, a NUL would cut the entry.
func ValidEnvName(name string) bool { return envNameRE.MatchString(name) }

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// NonEmptyList is an Option check: the list names at least one path.
func NonEmptyList(v any) error {
	if len(v.([]string)) == 0 {
		return errors.New("must name at least one path")
	}
	return nil
}

// CheckArgv refuses a command the plan gives as an argv list (run without
// a shell) that names no program, or whose program could be read as an
// option or depends on the directory the run starts in. key is the plan
// key the error names.
func CheckArgv(key string, argv []string) error {
	if len(argv) == 0 {
		return KeyErr(key, "must name a program, then its arguments")
	}
	switch prog := argv[0]; {
	case strings.TrimSpace(prog) == "":
		return KeyErr(key, "the program (the first word) must not be empty")
	case strings.HasPrefix(prog, "-"):
		return KeyErr(key, "the program (the first word) must not start with \"-\": it names a program, not an option")
	case strings.Contains(prog, "/") && !filepath.IsAbs(prog):
		return KeyErr(key, "the program %q is a relative path, which depends on the directory the run starts in: give an absolute path, or a name found in PATH", prog)
	}
	return nil
}
