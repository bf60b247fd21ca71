package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/schedule"
	"github.com/alexandria-backup/alexandria-backup/internal/state"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// Targets the tables combine. Nothing here runs a tool: the checklist is
// judged from the plan, the state and the host view it is given.
const (
	db = `
[targets.db]
driver = "pg_dump"
database = "postgres://u@127.0.0.1/app"
dir = "/var/backups/db"
keep_last = 7
`
	lib = `
[targets.lib]
driver = "restic"
repository = "/srv/restic"
password_file = "/etc/pw"
paths = ["/srv/library"]
keep_daily = 7
`
	libNoKeep = `
[targets.lib]
driver = "restic"
repository = "/srv/restic"
password_file = "/etc/pw"
paths = ["/srv/library"]
`
	away = `
[targets.away]
driver = "restic"
repository = "sftp:backup@far:/srv/restic"
password_file = "/etc/pw"
copy_from = "lib"
keep_monthly = 12
`
)

// planOf loads a plan file made of body.
func planOf(t *testing.T, body string) *plan.Plan {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.toml")
	src := strings.ReplaceAll(body, "RCLONECONF", filepath.Join(dir, "rclone.conf"))
	if err := os.WriteFile(path, []byte(`state_dir = "`+filepath.Join(dir, "state")+"\"\n"+src), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := plan.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// stateOf records a success of each target at its age ago (negative: a
// failure with no success).
func stateOf(ages map[string]time.Duration) *state.State {
	s := &state.State{Plans: map[string]*state.Plan{"p": {Targets: map[string]*state.Outcome{}}}, Drills: map[string]*state.Outcome{}}
	for name, age := range ages {
		o := &state.Outcome{Status: plan.StatusOK, LastRunAt: now.Add(-age)}
		if age < 0 {
			o.Status, o.LastRunAt = plan.StatusFailed, now.Add(time.Hour)
		} else {
			at := now.Add(-age)
			o.LastSuccessAt = &at
		}
		s.Plans["p"].Targets[name] = o
	}
	return s
}

func active(plans ...string) map[string][]schedule.Installed {
	m := map[string][]schedule.Installed{}
	for _, p := range plans {
		m[p] = []schedule.Installed{{Plan: p, Evidence: "/etc/systemd/system/alexandria-backup-" + p + ".timer, enabled", Active: true}}
	}
	return m
}

type row struct {
	name string
	plan string
	in   func(*Input) // adjusts the input: state, host
	want Status
	// evidence and fix must hold these (all of them).
	evidence, fix []string
}

func runRows(t *testing.T, check func(*Input) Item, rows []row) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			in := &Input{Plan: planOf(t, r.plan), State: stateOf(nil), Now: now, Cmd: "alexandria-backup -c /p.toml", Installed: map[string][]schedule.Installed{}}
			if r.in != nil {
				r.in(in)
			}
			it := check(in)
			ev, fix := strings.Join(it.Evidence, "\n"), strings.Join(it.Fix, "\n")
			if it.Status != r.want {
				t.Errorf("status %s, want %s\nevidence:\n%s\nfix:\n%s", it.Status, r.want, ev, fix)
			}
			for _, w := range r.evidence {
				if !strings.Contains(ev, w) {
					t.Errorf("evidence lacks %q:\n%s", w, ev)
				}
			}
			for _, w := range r.fix {
				if !strings.Contains(fix, w) {
					t.Errorf("fix lacks %q:\n%s", w, fix)
				}
			}
			if it.Status == Failed && len(it.Fix) == 0 {
				t.Errorf("a failed item without a fix:\n%s", ev)
			}
		})
	}
}

func TestDatabaseDaily(t *testing.T) {
	fresh := func(in *Input) { in.State = stateOf(map[string]time.Duration{"db": 3 * time.Hour}) }
	withHost := func(f func(*Input), inst map[string][]schedule.Installed) func(*Input) {
		return func(in *Input) { f(in); in.Installed = inst }
	}
	runRows(t, Database, []row{
		{name: "daily, installed, fresh", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: withHost(fresh, active("nightly")), want: OK, evidence: []string{`plan nightly, schedule "daily"`, "enabled", "3h ago (state)"}},
		{name: "every 30 minutes", plan: db + "[plans.often]\ntargets = [\"db\"]\nschedule = \"*/30 * * * *\"\n",
			in: withHost(fresh, active("often")), want: OK},
		{name: "no database target", plan: lib + "[plans.nightly]\ntargets = [\"lib\"]\nschedule = \"daily\"\n",
			want: Failed, fix: []string{`driver = "pg_dump"`}},
		{name: "in no plan", plan: db, in: fresh, want: Failed, fix: []string{`[plans.daily] targets = ["db"], schedule = "daily"`}},
		{name: "plan without schedule", plan: db + "[plans.nightly]\ntargets = [\"db\"]\n",
			in: fresh, want: Failed, evidence: []string{"plan nightly has no schedule"}, fix: []string{`schedule = "daily" in [plans.nightly]`}},
		{name: "weekly only", plan: db + "[plans.w]\ntargets = [\"db\"]\nschedule = \"weekly\"\n",
			in: withHost(fresh, active("w")), want: Failed, evidence: []string{"less often than daily"}},
		{name: "weekdays only: a 3-day gap", plan: db + "[plans.wd]\ntargets = [\"db\"]\nschedule = \"0 3 * * 1-5\"\n",
			in: withHost(fresh, active("wd")), want: Failed, evidence: []string{"less often than daily"}},
		{name: "not installed", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: fresh, want: Failed, evidence: []string{"not installed"}, fix: []string{"schedule systemd --install"}},
		{name: "timer disabled", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in:   withHost(fresh, map[string][]schedule.Installed{"nightly": {{Plan: "nightly", Evidence: "x.timer: not enabled"}}}),
			want: Failed, fix: []string{"systemctl enable --now alexandria-backup-nightly.timer"}},
		{name: "Kubernetes: cannot tell", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: func(in *Input) { fresh(in); in.InKubernetes = true }, want: NA, evidence: []string{"CronJob cannot be seen"}},
		{name: "stale", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: func(in *Input) {
				in.State, in.Installed = stateOf(map[string]time.Duration{"db": 30 * time.Hour}), active("nightly")
			}, want: Failed, evidence: []string{"30h ago", "more than 26h"}, fix: []string{"run nightly"}},
		{name: "--max-age 48h forgives 30h", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: func(in *Input) {
				in.State, in.Installed, in.MaxAge = stateOf(map[string]time.Duration{"db": 30 * time.Hour}), active("nightly"), 48*time.Hour
			}, want: OK},
		{name: "never succeeded", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: func(in *Input) {
				in.State, in.Installed = stateOf(map[string]time.Duration{"db": -1}), active("nightly")
			},
			want: Failed, evidence: []string{"no successful backup on record"}},
		{name: "from repositories: fresh, state empty", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: func(in *Input) {
				in.Installed, in.FromRepositories, in.Newest = active("nightly"), true, map[string]time.Time{"db": now.Add(-time.Hour)}
			}, want: OK, evidence: []string{"(repository)"}},
		{name: "from repositories: none", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in:   func(in *Input) { fresh(in); in.Installed, in.FromRepositories = active("nightly"), true },
			want: Failed, evidence: []string{"no backup of known time"}},
		{name: "from repositories: cannot list", plan: db + "[plans.nightly]\ntargets = [\"db\"]\nschedule = \"daily\"\n",
			in: func(in *Input) {
				in.Installed, in.FromRepositories = active("nightly"), true
				in.ListErrors = map[string]error{"db": errors.New("permission denied\nmore")}
			}, want: Failed, evidence: []string{"cannot list its backups: permission denied"}, fix: []string{"doctor"}},
	})
}

func TestFilesWeekly(t *testing.T) {
	weekly := "[plans.w]\ntargets = [\"lib\"]\nschedule = \"weekly\"\n"
	at := func(age time.Duration) func(*Input) {
		return func(in *Input) { in.State, in.Installed = stateOf(map[string]time.Duration{"lib": age}), active("w") }
	}
	runRows(t, Files, []row{
		{name: "weekly, 7 days old", plan: lib + weekly, in: at(7 * 24 * time.Hour), want: OK},
		{name: "9 days old", plan: lib + weekly, in: at(9 * 24 * time.Hour), want: Failed, evidence: []string{"more than 192h"}},
		{name: "monthly", plan: lib + "[plans.m]\ntargets = [\"lib\"]\nschedule = \"monthly\"\n", in: at(time.Hour), want: Failed,
			evidence: []string{"less often than weekly"}},
		{name: "only a database", plan: db + "[plans.d]\ntargets = [\"db\"]\nschedule = \"daily\"\n", want: Failed, fix: []string{`paths = ["/srv/library"]`}},
		{name: "a copy is not the files' backup", plan: lib + away + "[plans.w]\ntargets = [\"lib\", \"away\"]\nschedule = \"weekly\"\n",
			in: at(time.Hour), want: OK},
		{name: "an rsync mirror of the library", plan: `
[targets.mirror]
driver = "rsync"
source = "/srv/library/"
destination = "/mnt/mirror/"
[plans.w]
targets = ["mirror"]
schedule = "daily"
`, in: func(in *Input) {
			in.State, in.Installed = stateOf(map[string]time.Duration{"mirror": time.Hour}), active("w")
		}, want: OK, evidence: []string{"target mirror"}},
	})
}

func TestOffsite(t *testing.T) {
	plans := "[plans.w]\ntargets = [\"lib\", \"away\"]\nschedule = \"daily\"\n"
	runRows(t, Offsite, []row{
		{name: "restic copy to sftp, fresh", plan: lib + away + plans,
			in:   func(in *Input) { in.State = stateOf(map[string]time.Duration{"away": time.Hour}) },
			want: OK, evidence: []string{"target away keeps its backups at sftp:backup@far:/srv/restic"}},
		{name: "restic copy, stale", plan: lib + away + plans,
			in:   func(in *Input) { in.State = stateOf(map[string]time.Duration{"away": 10 * 24 * time.Hour}) },
			want: Failed, fix: []string{"run w"}},
		{name: "everything here", plan: lib + "[plans.w]\ntargets = [\"lib\"]\n", want: Failed, fix: []string{"copy_from"}},
		{name: "repository_file: cannot tell", plan: `
[targets.lib]
driver = "restic"
repository_file = "/etc/repo"
password_file = "/etc/pw"
paths = ["/srv/library"]
`, want: NA, evidence: []string{"the location in /etc/repo"}},
		{name: "borg over ssh", plan: `
[targets.b]
driver = "borg"
repository = "backup@far:/srv/borg"
passphrase_file = "/etc/pw"
paths = ["/srv/library"]
`, in: func(in *Input) { in.State = stateOf(map[string]time.Duration{"b": time.Hour}) }, want: OK},
		{name: "rclone to a remote", plan: `
[targets.o]
driver = "rclone"
source = "/srv/library"
destination = "b2:bucket"
`, in: func(in *Input) { in.State = stateOf(map[string]time.Duration{"o": time.Hour}) }, want: OK, evidence: []string{"b2:bucket"}},
		{name: "rsync to a local disk", plan: `
[targets.m]
driver = "rsync"
source = "/srv/library/"
destination = "/mnt/usb/"
`, want: Failed},
	})
}

func TestDrills(t *testing.T) {
	drilled := func(status string, passedAgo time.Duration) func(*Input) {
		return func(in *Input) {
			d := &state.Outcome{Status: status, LastRunAt: now.Add(-time.Hour)}
			if passedAgo > 0 {
				at := now.Add(-passedAgo)
				d.LastSuccessAt = &at
			}
			in.State.Drills["lib"] = d
		}
	}
	runRows(t, Drills, []row{
		{name: "passed 10 days ago", plan: lib, in: drilled(plan.StatusOK, 10*24*time.Hour), want: OK, evidence: []string{"drill passed"}},
		{name: "passed 40 days ago", plan: lib, in: drilled(plan.StatusOK, 40*24*time.Hour), want: Failed,
			evidence: []string{"more than 720h"}, fix: []string{"drill lib", `action = "drill"`}},
		{name: "--drill-within 60 days", plan: lib, in: func(in *Input) { drilled(plan.StatusOK, 40*24*time.Hour)(in); in.DrillWithin = 60 * 24 * time.Hour }, want: OK},
		{name: "never drilled", plan: lib, want: Failed, evidence: []string{"no drill on record"}},
		{name: "never passed", plan: lib, in: drilled(plan.StatusFailed, 0), want: Failed, evidence: []string{"never passed"}},
		{name: "last failed, passed before", plan: lib, in: drilled(plan.StatusFailed, 2*24*time.Hour), want: Failed, evidence: []string{"last drill failed"}},
		{name: "nothing can be drilled", plan: `
[targets.app]
driver = "command"
command = ["true", "{output}"]
dir = "/var/backups/app"
`, want: NA, evidence: []string{"cannot drill"}},
	})
}

func TestMonitoring(t *testing.T) {
	runRows(t, Monitoring, []row{
		{name: "nothing", plan: lib, want: Failed, fix: []string{"ping_url"}},
		{name: "ping_url, never shown", plan: "[notify]\nping_url = \"https://hc-ping.com/secret-uuid\"\n" + lib, want: OK,
			evidence: []string{"notify.ping_url is set"}},
		{name: "metrics_file", plan: "[notify]\nmetrics_file = \"/var/lib/m.prom\"\n" + lib, want: OK, evidence: []string{"/var/lib/m.prom"}},
		{name: "ntfy", plan: "[notify.ntfy]\nurl = \"https://ntfy.sh/topic\"\n" + lib, want: OK, evidence: []string{"[notify.ntfy]"}},
		{name: "on_failure", plan: "[notify]\non_failure = [[\"/bin/alert\"]]\n" + lib, want: OK, evidence: []string{"on_failure"}},
		{name: "on_success only", plan: "[notify]\non_success = [[\"/bin/true\"]]\n" + lib, want: Failed},
	})
	// The ping URL's token never appears.
	in := &Input{Plan: planOf(t, "[notify]\nping_url = \"https://hc-ping.com/secret-uuid\"\n"+lib), State: stateOf(nil), Now: now}
	if it := Monitoring(in); strings.Contains(strings.Join(it.Evidence, " "), "secret-uuid") {
		t.Errorf("the ping URL is in the evidence: %v", it.Evidence)
	}
}

func TestRetention(t *testing.T) {
	mirror := `
[targets.mirror]
driver = "rsync"
source = "/srv/library/"
destination = "/mnt/mirror/"
`
	runRows(t, Retention, []row{
		{name: "set", plan: lib + db, want: OK, evidence: []string{"keep_daily = 7", "keep_last = 7"}},
		{name: "restic without keep_*", plan: libNoKeep + db, want: Failed,
			evidence: []string{"target lib: no keep_"}, fix: []string{"[targets.lib], e.g. keep_daily = 7, keep_weekly = 4, keep_monthly = 6"}},
		{name: "pg_dump without keep_*", plan: `
[targets.db]
driver = "pg_dump"
database = "postgres://u@127.0.0.1/app"
dir = "/var/backups/db"
`, want: Failed, fix: []string{"[targets.db], e.g. keep_"}},
		{name: "a mirror has none", plan: mirror, want: NA, evidence: []string{"no retention keys"}},
		{name: "a mirror beside a kept target", plan: mirror + lib, want: OK},
	})
}

func TestEncryption(t *testing.T) {
	rclone := func(dest, extra string) string {
		return "[targets.o]\ndriver = \"rclone\"\nsource = \"/srv/library\"\ndestination = \"" + dest + "\"\nconfig = \"RCLONECONF\"\n" + extra
	}
	conf := func(text string) func(*Input) {
		return func(in *Input) {
			path := filepath.Join(filepath.Dir(in.Plan.Path), "rclone.conf")
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	runRows(t, Encryption, []row{
		{name: "restic offsite", plan: lib + away, want: OK, evidence: []string{"restic encrypts"}},
		{name: "nothing leaves", plan: lib + db, want: NA, evidence: []string{"no backup leaves this host"}},
		{name: "borg offsite, encryption none", plan: `
[targets.b]
driver = "borg"
repository = "backup@far:/srv/borg"
encryption = "none"
paths = ["/srv/library"]
`, want: Failed, evidence: []string{`encryption = "none"`}, fix: []string{`encryption = "repokey-blake2"`}},
		{name: "borg offsite, authenticated only", plan: `
[targets.b]
driver = "borg"
repository = "ssh://backup@far/srv/borg"
encryption = "authenticated-blake2"
passphrase_file = "/etc/pw"
paths = ["/srv/library"]
`, want: Failed},
		{name: "borg offsite, default repokey", plan: `
[targets.b]
driver = "borg"
repository = "ssh://backup@far/srv/borg"
passphrase_file = "/etc/pw"
paths = ["/srv/library"]
`, want: OK},
		{name: "borg local, encryption none: stays here", plan: `
[targets.b]
driver = "borg"
repository = "/srv/borg"
encryption = "none"
paths = ["/srv/library"]
`, want: NA},
		{name: "rsync over ssh", plan: `
[targets.m]
driver = "rsync"
source = "/srv/library/"
destination = "backup@far:/srv/mirror/"
`, want: Failed, evidence: []string{"in transit only"}, fix: []string{"use restic/borg or an rclone crypt remote for offsite"}},
		{name: "rclone crypt remote", plan: rclone("secret:lib", "crypt = true\n"),
			in: conf("[b2]\ntype = b2\n\n[secret]\ntype = crypt\nremote = b2:bucket\n"), want: OK, evidence: []string{"type = crypt"}},
		{name: "rclone plain remote", plan: rclone("b2:bucket", ""),
			in: conf("[secret]\ntype = crypt\n[b2]\ntype = b2\n"), want: Failed, evidence: []string{"type = b2"}, fix: []string{"crypt remote"}},
		{name: "rclone config unreadable", plan: rclone("b2:bucket", ""), want: NA, evidence: []string{"cannot read"}},
		{name: "rclone config encrypted", plan: rclone("b2:bucket", ""),
			in: conf("# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabcdef\n"), want: NA, evidence: []string{"is encrypted"}},
		{name: "rclone remote typed in env", plan: rclone("vault:lib", "env = { RCLONE_CONFIG_VAULT_TYPE = \"crypt\" }\n"), want: OK,
			evidence: []string{"RCLONE_CONFIG_VAULT_TYPE"}},
		{name: "rclone copy of a local restic repository", plan: lib + `
[targets.o]
driver = "rclone"
source = "/srv/restic"
destination = "b2:bucket/restic"
`, want: OK, evidence: []string{"copy of the repository of lib"}},
	})
}

func TestIntegrityChecks(t *testing.T) {
	runRows(t, IntegrityChecks, []row{
		{name: "verifying backup plan, installed", plan: lib + "[plans.d]\ntargets = [\"lib\"]\nschedule = \"daily\"\n",
			in: func(in *Input) { in.Installed = active("d") }, want: OK, evidence: []string{"plan d (backup"}},
		{name: "not installed", plan: lib + "[plans.d]\ntargets = [\"lib\"]\nschedule = \"daily\"\n",
			want: Failed, fix: []string{"schedule systemd --install"}},
		{name: "verify = false, no check plan", plan: lib + "verify = false\n[plans.d]\ntargets = [\"lib\"]\nschedule = \"daily\"\n",
			want: Failed, evidence: []string{"target lib: no scheduled plan"}, fix: []string{`action = "verify", targets = ["lib"]`}},
		{name: "verify = false, a scheduled drill plan", plan: lib + "verify = false\n[plans.d]\ntargets = [\"lib\"]\nschedule = \"daily\"\n" +
			"[plans.drill]\ntargets = [\"lib\"]\naction = \"drill\"\nschedule = \"monthly\"\n",
			in: func(in *Input) { in.Installed = active("drill") }, want: OK, evidence: []string{"plan drill (drill"}},
		{name: "no schedule at all", plan: lib + "[plans.d]\ntargets = [\"lib\"]\n", want: Failed},
		{name: "scheduled, installed, but the last verify found damage", plan: lib + "[plans.d]\ntargets = [\"lib\"]\nschedule = \"daily\"\n",
			in: func(in *Input) {
				in.Installed = active("d")
				in.State.VerifyFailed = map[string]*state.VerifyFailure{"lib": {At: now.Add(-time.Hour), Error: "pack 4f2a: damaged"}}
			},
			want: Failed, evidence: []string{"target lib: its last verify failed", "pack 4f2a: damaged"}, fix: []string{"verify --full lib"}},
	})
}

// Run gives every item once, in the guide's order, and fails when one does.
func TestRunReport(t *testing.T) {
	in := &Input{Plan: planOf(t, lib), State: stateOf(nil), Now: now}
	r := Run(in)
	var ids []string
	for _, it := range r.Items {
		ids = append(ids, it.ID)
		if it.Evidence == nil || it.Fix == nil {
			t.Errorf("%s: nil evidence or fix (JSON would say null)", it.ID)
		}
	}
	want := "database-daily files-weekly offsite restore-tested monitoring retention encryption integrity-checks"
	if strings.Join(ids, " ") != want || !r.Failed || r.DatabaseMaxAgeSeconds != 26*3600 || r.DrillWithinSeconds != 30*24*3600 {
		t.Errorf("items %v, failed %v, %+v", ids, r.Failed, r)
	}
}
