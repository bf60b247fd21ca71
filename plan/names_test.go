package plan

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// badNames are names that must never become part of a file name, a tag
// or a glob: path separators and traversals, empty and dot names, a
// leading dash (an option to the tools), spaces and control characters,
// non-ASCII lookalikes, and names too long for a file name.
var badNames = []string{
	"../../x", "weekly/full", "/abs", `back\slash`, "", ".", "..", ".hidden", "-x", "--help",
	"a b", "x\n", "x\t", "x\x00y", "tab\there", "wееkly" /* Cyrillic е */, "ｗeekly", /* fullwidth */
	"wee\u200bkly" /* zero-width space */, "café", "a*", "a@b", "a:b", "a,b", "a%b",
	strings.Repeat("x", maxNameLen+1),
}

// tomlKey quotes a name as a TOML basic-string key.
func tomlKey(name string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range name {
		switch {
		case r == '"' || r == '\\':
			b.WriteString(`\` + string(r))
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func TestPlanNamesAreChecked(t *testing.T) {
	base := "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n\n"
	for _, name := range badNames {
		t.Run(strconv.Quote(name), func(t *testing.T) {
			src := base + "[plans." + tomlKey(name) + "]\ntargets = [\"db\"]\n"
			_, err := Parse("plan.toml", []byte(src), env(nil))
			want := "plan.toml:6: " + keyString([]string{"plans", name}) + ": a plan name may only use"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want %q, got:\n%v", want, err)
			}
		})
	}
}

func TestTargetNamesAreChecked(t *testing.T) {
	for _, name := range badNames {
		t.Run(strconv.Quote(name), func(t *testing.T) {
			src := "parallel = 1\n[targets." + tomlKey(name) + "]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n"
			_, err := Parse("plan.toml", []byte(src), env(nil))
			want := "plan.toml:2: " + keyString([]string{"targets", name}) + ": a target name may only use"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("want %q, got:\n%v", want, err)
			}
		})
	}
}

func TestGoodNames(t *testing.T) {
	for _, name := range []string{"weekly", "Weekly-2", "db.main", "a_b", "x", "9", strings.Repeat("x", maxNameLen)} {
		src := "[targets." + tomlKey(name) + "]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n" +
			"[plans." + tomlKey(name) + "]\ntargets = [" + tomlKey(name) + "]\n"
		if _, err := Parse("plan.toml", []byte(src), env(nil)); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// A hostile name is shown quoted and escaped, never raw: a newline must
// not start a line of its own in the error.
func TestKeyString(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want string
	}{
		{[]string{"targets", "db", "keep_daily"}, "targets.db.keep_daily"},
		{[]string{"plans", "../../x"}, `plans."../../x"`},
		{[]string{"plans", "x\n"}, `plans."x\u000A"`},
		{[]string{"plans", "wee\u200bkly"}, `plans."wee\u200Bkly"`},
		{[]string{"plans", ""}, `plans.""`},
		{[]string{"targets", "db.main"}, `targets."db.main"`},
	} {
		if got := keyString(tc.path); got != tc.want {
			t.Errorf("keyString(%q) = %s, want %s", tc.path, got, tc.want)
		}
	}
}

// env names become NAME=value entries of a child's environment: a name
// holding '=' would set another variable, a NUL would cut the entry.
func TestEnvNamesAreChecked(t *testing.T) {
	base := "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n"
	for _, name := range []string{"A=B", "", "1X", "A\x00B", "A B", " A", "A-B", "A.B", "Ä", "A\n", "=", "PATH=/tmp"} {
		t.Run(strconv.Quote(name), func(t *testing.T) {
			for line, src := range map[int]string{
				5: base + "env = { " + tomlKey(name) + " = \"secret-value\" }\n",
				6: base + "[targets.db.env]\n" + tomlKey(name) + " = \"secret-value\"\n",
			} {
				_, err := Parse("plan.toml", []byte(src), env(nil))
				want := "plan.toml:" + strconv.Itoa(line) + ": " + keyString([]string{"targets", "db", "env", name}) + ": not a valid environment variable name"
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("want %q, got:\n%v", want, err)
				}
				if strings.Contains(err.Error(), "secret-value") {
					t.Fatalf("the error shows the value:\n%v", err)
				}
			}
		})
	}
	for _, name := range []string{"A", "_X", "AWS_SECRET_ACCESS_KEY", "a1", "PGSSLMODE"} {
		if _, err := Parse("plan.toml", []byte(base+"env = { "+name+" = \"v\" }\n"), env(nil)); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
}

// A plan file with nothing to do is a mistake (the wrong file, a file
// truncated by a failed copy): an error naming the file, never a run
// that succeeds doing nothing.
func TestEmptyPlanIsAnError(t *testing.T) {
	for name, src := range map[string]string{
		"empty":        "",
		"blank":        " \n\n\t\n",
		"comments":     "# a plan\n\n# nothing yet\n",
		"only globals": "state_dir = \"/x\"\nparallel = 2\n",
		"only notify":  "[notify]\nping_url = \"https://hc-ping.com/x\"\n",
		"empty tables": "[targets]\n[plans]\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("/etc/ab/plan.toml", []byte(src), env(nil))
			want := ": targets: the plan defines no targets"
			if err == nil || !strings.Contains(err.Error(), "/etc/ab/plan.toml") || !strings.Contains(err.Error(), want) {
				t.Fatalf("want the file and %q, got: %v", want, err)
			}
		})
	}
}
