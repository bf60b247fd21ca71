package drivers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// A plan value must never be read by a tool as an option: every command a
// driver builds passes a value either glued to its flag (--flag=value) or
// after "--". restic (pflag), borg (argparse) and rsync (popt) all read
// options after positional words too, so "not first" is no protection;
// only "--" is. The *-option-injection golden cases pin one instance each;
// this fuzzes every free-form string of every driver.

// argvMark ends every fuzzed value: no flag a driver writes contains it, so
// an argument that starts with a value is told apart from a flag that
// merely shares its first letters.
const argvMark = "Z9q"

// argvBase is a valid target of each driver, into which one key at a time
// gets a fuzzed value.
var argvBase = map[string]drivers.Values{
	"pg_dump": {"database": "postgres://db.example/library", "dir": "/var/backups/db"},
	"restic":  {"repository": "/srv/restic", "password_file": "/etc/alexandria/restic.pass", "paths": []string{"/srv/library"}, "keep_daily": 7},
	"borg":    {"repository": "/srv/borg", "passphrase_file": "/etc/alexandria/borg.pass", "paths": []string{"/srv/library"}, "keep_daily": 7},
	"rsync":   {"source": "/srv/library/", "destination": "/mnt/mirror/"},
	"rclone":  {"source": "/srv/library", "destination": "remote:bucket"},
	"command": {"command": []string{"librarian", "backup", "{output}"}, "dir": "/var/backups/app"},
}

// operatorArgv are each driver's keys that are an argv the operator wrote,
// every word of it theirs, options included: not values to keep out of
// options. (What the command driver puts into its commands, {output} and
// {input}, is an absolute path; pg_dump's exec_prefix comes before the
// tool's own argv, which the fuzz still checks.)
var operatorArgv = map[string]map[string]bool{
	"command": {"command": true, "verify_command": true, "restore_command": true},
	"pg_dump": {"exec_prefix": true, "drill_check": true},
}

func FuzzArgvKeepsPlanValuesOutOfOptions(f *testing.F) {
	for _, s := range []string{"-v", "--delete", "--file=/tmp/pwned", "-evil:bucket", "/srv/-rf", "--", "-", "x", "--password-command=sh", "-e ssh -oProxyCommand=x", " -v", "@-", "::-x", "10M"} {
		f.Add(s, "--remove-all")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, vb := a+argvMark, b+argvMark
		for _, d := range all.Drivers() {
			for _, o := range d.Options() {
				if len(o.Enum) > 0 || (o.Kind != drivers.String && o.Kind != drivers.StringList) {
					continue
				}
				v := drivers.Values{}
				for k, x := range argvBase[d.Name()] {
					v[k] = x
				}
				if o.Kind == drivers.String {
					v[o.Name] = va
				} else {
					v[o.Name] = []string{va, vb}
				}
				if operatorArgv[d.Name()][o.Name] {
					continue
				}
				if o.Name == "into" {
					continue // names another target; not an argv value
				}
				tg := &drivers.Target{Name: "t", Driver: d.Name(), Impl: d, Verify: true, Settings: v, TempDir: "/tmp/t"}
				if d.Validate(tg) != nil {
					continue
				}
				for _, c := range argvCommands(d, tg) {
					if bad := injected(c.Args, va, vb); bad != "" {
						t.Errorf("%s %s = %q: %q can be read as an option in: %s", d.Name(), o.Name, a, bad, c.String())
					}
				}
			}
		}
	})
}

// argvCommands is every command the driver builds for t: the run's steps,
// and what init, prune --dry-run, snapshots and verify run.
func argvCommands(d drivers.Driver, tg *drivers.Target) []proc.Command {
	var out []proc.Command
	for _, s := range d.Steps(tg) {
		if s.Command != nil {
			out = append(out, *s.Command)
		}
	}
	ctx := context.Background()
	rec := &argvRecorder{}
	_ = d.Init(ctx, rec, tg)
	_, _ = d.Prune(ctx, rec, tg, true)
	_, _ = d.Snapshots(ctx, rec, tg)
	_ = d.Verify(ctx, rec, tg, drivers.Artifact{ID: "0123abcd"})
	return append(out, rec.cmds...)
}

// argvRecorder runs nothing and records each command; its output is what
// restic prints for an empty repository.
type argvRecorder struct{ cmds []proc.Command }

func (r *argvRecorder) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	r.cmds = append(r.cmds, c)
	return proc.Result{Command: c.String(), Stdout: []byte("[]")}, nil
}

// injected returns the first argument before "--" that starts with one of
// the values and with "-": a tool reads it as an option.
func injected(args []string, values ...string) string {
	for _, arg := range args {
		if arg == "--" {
			return ""
		}
		for _, v := range values {
			if strings.HasPrefix(arg, "-") && strings.HasPrefix(arg, v) {
				return arg
			}
		}
	}
	return ""
}
