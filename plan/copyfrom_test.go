package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
)

// The restic source every copy below names, and a pg_dump target.
const copySources = `[targets.library]
driver = "restic"
repository = "/srv/restic"
password_file = "/etc/ab/restic.pass"
paths = ["/srv/library"]

[targets.db]
driver = "pg_dump"
database = "alexandria"
dir = "/var/backups/db"
`

// copyTarget is a restic target named offsite with extra keys.
func copyTarget(extra string) string {
	return copySources + `
[targets.offsite]
driver = "restic"
repository = "/mnt/offsite/restic"
password_file = "/etc/ab/offsite.pass"
` + extra
}

// Every shape of copy_from a plan must refuse, each naming the key.
func TestParseCopyFromProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"paths and copy_from", copyTarget("copy_from = \"library\"\npaths = [\"/srv/library\"]\n"),
			"targets.offsite.copy_from: set either `paths` (back them up) or `copy_from` (copy the snapshots of \"library\"), not both"},
		{"unknown target", copyTarget("copy_from = \"libary\"\n"), `targets.offsite.copy_from: unknown target "libary" (did you mean library?)`},
		{"not restic", copyTarget("copy_from = \"db\"\n"), `targets.offsite.copy_from: target "db" uses driver pg_dump; a restic target copies only from another restic target`},
		{"itself", copyTarget("copy_from = \"offsite\"\n"), "targets.offsite.copy_from: a target cannot copy from itself"},
		{"empty", copyTarget("copy_from = \"\"\n"), "targets.offsite.copy_from: must name the restic target"},
		{"copy of a copy", copyTarget("copy_from = \"library\"\n") + `
[targets.far]
driver = "restic"
repository = "/mnt/far"
password_file = "/etc/ab/far.pass"
copy_from = "offsite"
`, `targets.far.copy_from: target "offsite" is itself a copy (of "library"); copy from the target that makes the backups`},
		{"neither paths nor copy_from", copyTarget(""), "targets.offsite: `paths` is required for driver restic, unless `copy_from` is set"},
		{"exclude on a copy", copyTarget("copy_from = \"library\"\nexclude = [\"cache\"]\n"), `targets.offsite.exclude: does not apply to a copy (copy_from = "library")`},
		{"exclude_file on a copy", copyTarget("copy_from = \"library\"\nexclude_file = [\"/etc/x\"]\n"), `targets.offsite.exclude_file: does not apply to a copy`},
		{"tags on a copy", copyTarget("copy_from = \"library\"\ntags = [\"x\"]\n"), `targets.offsite.tags: does not apply to a copy`},
		{"host on a copy", copyTarget("copy_from = \"library\"\nhost = \"h\"\n"), `targets.offsite.host: does not apply to a copy`},
		{"allow_empty_source on a copy", copyTarget("copy_from = \"library\"\nallow_empty_source = true\n"), `targets.offsite.allow_empty_source: does not apply to a copy`},
		{"source env in env", copyTarget("copy_from = \"library\"\nenv = { RESTIC_FROM_PASSWORD = \"x\" }\n"), "targets.offsite.env: RESTIC_FROM_PASSWORD conflicts with"},
		{"the source's repository", strings.Replace(copyTarget("copy_from = \"library\"\n"), "/mnt/offsite/restic", "/srv/restic", 1),
			`targets.offsite.copy_from: target "library" keeps its snapshots in the same repository (/srv/restic): a copy goes to a repository of its own`},
		{"two copies in one repository", copyTarget("copy_from = \"library\"\n") + `
[targets.twin]
driver = "restic"
repository = "/mnt/offsite/restic"
password_file = "/etc/ab/offsite.pass"
copy_from = "library"
`, `targets.twin.repository: target "offsite" already copies "library" into /mnt/offsite/restic: two copies of one source need two repositories`},
		{"cycle through copy_from", strings.Replace(copyTarget("copy_from = \"library\"\n"), "paths = [\"/srv/library\"]\n", "paths = [\"/srv/library\"]\nafter = [\"offsite\"]\n", 1),
			"`after` and `copy_from` (a copy runs after its source) form a cycle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("plan.toml", []byte(tc.src), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got:\n%v", tc.want, err)
			}
		})
	}
}

func TestParseCopyFromLinksTheSource(t *testing.T) {
	p, err := Parse("plan.toml", []byte(copyTarget("copy_from = \"library\"\nkeep_last = 1\n")), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if p.Targets["offsite"].CopyFrom != p.Targets["library"] || p.Targets["library"].CopyFrom != nil {
		t.Fatalf("copy_from not linked: %+v", p.Targets["offsite"].CopyFrom)
	}
}

// A copy waits for its source, and runs even when the source failed: the
// snapshots made before are still worth copying. `after` still skips.
func TestRunCopyFollowsItsSourceEvenWhenItFailed(t *testing.T) {
	for _, fail := range []string{"", "backup", "verify"} {
		t.Run("source fails in "+fail, func(t *testing.T) {
			settings := map[string]drivers.Values{
				"offsite":  {"copy_from": "library"},
				"library":  {"sleep": 10 * time.Millisecond, "fail": fail},
				"after-it": {},
			}
			// offsite comes first in the plan, and parallel would allow it
			// to start at once.
			p, f := fakePlan(3, []string{"offsite", "library", "after-it"}, settings, "after-it<library")
			p.Targets["offsite"].CopyFrom = p.Targets["library"]
			rep := runFake(t, p, f, RunOptions{})
			pos := map[string]int{}
			for i, e := range f.events {
				pos[e] = i + 1
			}
			if pos["backup offsite"] == 0 {
				t.Fatalf("the copy did not run: %v (%s)", f.events, statuses(rep))
			}
			if pos["backup offsite"] < pos["backup library"] {
				t.Fatalf("the copy started before its source: %v", f.events)
			}
			end := pos["prune library"]
			if fail != "" {
				end = pos[fail+" library"]
			}
			if pos["backup offsite"] < end {
				t.Fatalf("the copy started before its source finished: %v", f.events)
			}
			want := "offsite=ok library=ok after-it=ok"
			if fail != "" {
				want = "offsite=ok library=failed after-it=skipped"
			}
			if got := statuses(rep); got != want {
				t.Fatalf("statuses %s, want %s", got, want)
			}
		})
	}
}

// A copy holds its source's repository while it runs (restic copy locks
// it): a target sharing that repository does not run alongside.
func TestRunCopyHoldsItsSourceRepository(t *testing.T) {
	names := []string{"library", "offsite", "dump"}
	settings := map[string]drivers.Values{}
	for _, n := range names {
		settings[n] = drivers.Values{"sleep": 40 * time.Millisecond}
	}
	p, f := fakePlan(3, names, settings)
	lib, off := p.Targets["library"], p.Targets["offsite"]
	for _, tg := range []*drivers.Target{lib, off} {
		tg.Driver, tg.Impl = "restic", restic.Driver{}
	}
	lib.Settings["repository"], off.Settings["repository"] = "/srv/restic", "/mnt/offsite"
	off.CopyFrom, off.Settings["copy_from"] = lib, "library"
	p.Targets["dump"].Into = lib
	// library ran first; then the dump (sharing library's repository) and
	// the copy (reading it) must not overlap.
	runFake(t, p, f, RunOptions{})
	pos := map[string]int{}
	for i, e := range f.events {
		pos[e] = i
	}
	first, second := "offsite", "dump"
	if pos["backup dump"] < pos["backup offsite"] {
		first, second = second, first
	}
	if pos["backup "+second] < pos["prune "+first] {
		t.Fatalf("%s ran while %s held library's repository: %v", second, first, f.events)
	}
}
