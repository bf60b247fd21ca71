package drivers_test

import (
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// TestConformance holds every registered driver to the same rules.
func TestConformance(t *testing.T) {
	common := map[string]bool{}
	for _, o := range drivers.CommonOptions {
		common[o.Name] = true
	}
	for _, d := range all.Drivers() {
		t.Run(d.Name(), func(t *testing.T) {
			seen := map[string]bool{}
			for _, o := range d.Options() {
				if o.Help == "" || !strings.HasSuffix(o.Help, ".") {
					t.Errorf("option %s: help must be a sentence", o.Name)
				}
				if seen[o.Name] || common[o.Name] {
					t.Errorf("option %s declared twice", o.Name)
				}
				seen[o.Name] = true
				if o.Kind == drivers.String && len(o.Enum) > 0 && o.Default != "" && !drivertest.Contains(o.Enum, o.Default) {
					t.Errorf("option %s: default %q not in enum", o.Name, o.Default)
				}
			}
			if _, ok := all.Lookup(d.Name()); !ok {
				t.Errorf("Lookup(%q) fails", d.Name())
			}
			// doctor names the package to install from these.
			progs := d.Facts().Programs
			// The command driver runs the plan's programs, none of its
			// own: its CheckTools finds them per target.
			if len(progs) == 0 && d.Name() != "command" {
				t.Error("Facts().Programs is empty: doctor cannot say what to install")
			}
			for _, p := range progs {
				if p.Name == "" || p.Package == "" {
					t.Errorf("program %+v: name and Debian package required", p)
				}
			}
		})
	}
}

// TestNoSecretInCommands builds every golden target with secret-bearing
// settings and checks that no secret reaches a command line.
func TestNoSecretInCommands(t *testing.T) {
	drivertest.PinClock(t)
	secrets := []string{"super-secret-value", "another-secret", "s3cret"}
	for _, path := range []string{"restic/testdata/golden/restic-full.toml", "pgdump/testdata/golden/pg_dump-sql-gzip.toml",
		"borg/testdata/golden/borg-full.toml", "rclone/testdata/golden/rclone-sync-full.toml", "rsync/testdata/golden/rsync-remote-ssh.toml", "command/testdata/golden/command-full.toml"} {
		for _, tg := range drivertest.LoadTargets(t, path) {
			if tg.Env == nil {
				tg.Env = map[string]string{}
			}
			tg.Env["PGPASSWORD"] = "super-secret-value"
			d, _ := all.Lookup(tg.Driver)
			first := ""
			for i := 0; i < 2; i++ {
				var all strings.Builder
				for _, s := range d.Steps(tg) {
					all.WriteString(s.String() + "\n")
					if s.Command != nil {
						for _, a := range s.Command.Args {
							for _, sec := range secrets {
								if strings.Contains(a, sec) {
									t.Errorf("%s: secret %q in argv %q", tg.Driver, sec, a)
								}
							}
						}
					}
				}
				for _, sec := range secrets {
					if strings.Contains(all.String(), sec) {
						t.Errorf("%s: secret %q shown in:\n%s", tg.Driver, sec, all.String())
					}
				}
				if i == 0 {
					first = all.String()
				} else if first != all.String() {
					t.Errorf("%s: steps are not deterministic", tg.Driver)
				}
			}
		}
	}
}

// init says for every target whether it created or found what it needs:
// every driver says what its Init did.
func TestEveryDriverReportsItsInit(t *testing.T) {
	for _, d := range all.Drivers() {
		if _, ok := d.(drivers.InitReporter); !ok {
			t.Errorf("driver %s does not implement drivers.InitReporter: init could only say \"ready\"", d.Name())
		}
	}
}
