package drivers_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

// TestOptionDefaultsApply catches a default restated in code that
// disagrees with the Option's: a target that sets a key to its declared
// default must do exactly what one that leaves the key unset does, as far
// as the dry-run steps, the plain restore, the resources and the common
// target fields show.
func TestOptionDefaultsApply(t *testing.T) {
	drivertest.PinClock(t)
	// Minimal valid targets. An option is checked in every base that
	// leaves it unset and accepts it set: rsync's guard keys need
	// delete = true, delete itself a base without it.
	bases := map[string][]string{
		"borg": {`repository = "/srv/backup/borg"
passphrase_file = "/etc/alexandria-backup/borg.pass"
paths = ["/srv/library"]
keep_daily = 7`},
		"command": {`command = ["/usr/local/bin/librarian", "backup", "{output}"]
dir = "/var/backups/app"`},
		"pg_dump": {`database = "postgres://db.example/alexandria"
dir = "/var/backups/db"
keep_last = 7`},
		"rclone": {`source = "/srv/library"
destination = "b2:backups"`},
		"restic": {`repository = "/srv/backup/restic"
password_file = "/etc/alexandria-backup/restic.pass"
paths = ["/srv/library"]
keep_daily = 7`},
		"rsync": {`source = "/srv/library/"
destination = "/mnt/mirror"`, `source = "/srv/library/"
destination = "/mnt/mirror"
delete = true`},
	}
	// Defaults that say what the tool does when the key is unset (pg_dump
	// without --jobs runs one job), not a value the code falls back to.
	toolDefault := map[string]bool{"borg compression": true, "pg_dump compress": true, "pg_dump jobs": true,
		"restic host": true, "rsync ssh_command": true}
	for _, d := range all.Drivers() {
		t.Run(d.Name(), func(t *testing.T) {
			if len(bases[d.Name()]) == 0 {
				t.Fatal("no base target: add one above")
			}
			opts := append(append([]drivers.Option{}, drivers.CommonOptions...), d.Options()...)
			checked := map[string]bool{}
			for _, base := range bases[d.Name()] {
				want, err := behaviour(d.Name(), base)
				if err != nil {
					t.Fatalf("base target: %v", err)
				}
				for _, o := range opts {
					if o.Default == "" || toolDefault[d.Name()+" "+o.Name] || strings.Contains("\n"+base, "\n"+o.Name+" =") {
						continue
					}
					got, err := behaviour(d.Name(), base+"\n"+o.Name+" = "+tomlValue(o))
					if err != nil {
						continue // rejected in this base (max_delete_percent without delete)
					}
					checked[o.Name] = true
					if got != want {
						t.Errorf("%s = %s (its declared default) does not do what leaving it unset does:\n--- set\n%s--- unset\n%s",
							o.Name, tomlValue(o), got, want)
					}
				}
			}
			for _, o := range opts {
				if o.Default != "" && !toolDefault[d.Name()+" "+o.Name] && !checked[o.Name] {
					t.Errorf("%s: no base target accepts its declared default %q; add a base that does, or list it in toolDefault", o.Name, o.Default)
				}
			}
		})
	}
}

// tomlValue writes o's declared default as a plan would.
func tomlValue(o drivers.Option) string {
	if o.Kind == drivers.String || o.Kind == drivers.Duration {
		return strconv.Quote(o.Default)
	}
	return o.Default
}

// behaviour loads a one-target plan and says what the target would do.
func behaviour(driver, settings string) (string, error) {
	p, err := plan.Parse("plan.toml", []byte("[targets.library]\ndriver = "+strconv.Quote(driver)+"\n"+settings+"\n"), func(string) (string, bool) { return "", false })
	if err != nil {
		return "", err
	}
	tg := p.Targets["library"]
	var b strings.Builder
	fmt.Fprintf(&b, "verify=%v retries=%d retry_wait=%v drill=%v drill_sample=%d timeout=%v\n",
		tg.Verify, tg.Retries, tg.RetryWait, tg.Drill, tg.DrillSample, tg.Timeout)
	for _, s := range tg.Impl.Steps(tg) {
		b.WriteString(string(s.Phase) + ": " + s.String() + "\n")
	}
	for _, s := range tg.Impl.PlainRestore(tg) {
		b.WriteString("restore: " + s.String() + "\n")
	}
	fmt.Fprintf(&b, "resources: %+v\n", tg.Impl.Resources(tg))
	return b.String(), nil
}
