package drivers_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/all"
	"github.com/alexandria-backup/alexandria-backup/drivers/pgdump"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// TestExitCodesChangeEveryDriversOutcome holds every driver to the README's
// word on `exit_codes`: it reclassifies the backup tool's exit. A real,
// successful backup with exit_codes = { warning = [0] } must come back as
// a warning, and with { error = [0] } as an error, for every registered
// driver (and for a dump streamed into a repository). A driver added
// without a case here fails the test, so none can ignore the key again.
func TestExitCodesChangeEveryDriversOutcome(t *testing.T) {
	ctx := context.Background()
	cases := map[string]func(t *testing.T) (proc.Executor, *drivers.Target, func(t *testing.T) []string){
		"pg_dump": func(t *testing.T) (proc.Executor, *drivers.Target, func(*testing.T) []string) {
			f := drivertest.NewPgFixture(t)
			tg := f.Target(t, nil)
			return f.X, tg, func(t *testing.T) []string { return drivertest.DirNames(t, filepath.Join(f.Dir, "dumps")) }
		},
		"pg_dump into restic": func(t *testing.T) (proc.Executor, *drivers.Target, func(*testing.T) []string) {
			f := drivertest.NewStreamFixture(t, "restic")
			return f.X, f.Target, f.RepoContents
		},
		"restic": func(t *testing.T) (proc.Executor, *drivers.Target, func(*testing.T) []string) {
			f := drivertest.NewResticFixture(t)
			return f.X, f.Target("library", nil), nil
		},
		"borg": func(t *testing.T) (proc.Executor, *drivers.Target, func(*testing.T) []string) {
			f := drivertest.NewBorgFixture(t)
			return f.X, f.Target("library", nil), nil
		},
		"rsync": func(t *testing.T) (proc.Executor, *drivers.Target, func(*testing.T) []string) {
			f := drivertest.NewRsyncFixture(t)
			return f.X, f.Target(nil), nil
		},
		"rclone": func(t *testing.T) (proc.Executor, *drivers.Target, func(*testing.T) []string) {
			f := drivertest.NewRcloneFixture(t)
			return f.X, f.Target(nil), nil
		},
		"command": func(t *testing.T) (proc.Executor, *drivers.Target, func(*testing.T) []string) {
			f := drivertest.NewCmdFixture(t)
			return f.X, f.Target(t, nil), func(t *testing.T) []string { return drivertest.DirNames(t, f.Out) }
		},
	}
	for _, d := range all.Drivers() {
		if cases[d.Name()] == nil {
			t.Errorf("driver %s has no exit_codes case here", d.Name())
		}
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			x, tg, contents := setup(t)
			d, _ := all.Lookup(tg.Driver)
			if err := d.Init(ctx, x, tg); err != nil {
				t.Fatal(err)
			}
			// As the plan gives it: a backup that succeeds, called a warning.
			tg.ExitCodes = proc.ExitCodes{Warning: []int{0}}
			if err := d.Validate(tg); err != nil {
				t.Fatalf("warning = [0] refused: %v", err)
			}
			a, err := d.Backup(ctx, x, tg)
			if err != nil {
				t.Fatalf("backup: %v", err)
			}
			if len(a.Warnings) == 0 || !strings.Contains(strings.Join(a.Warnings, "\n"), "exited 0") {
				t.Fatalf("exit_codes = { warning = [0] } did not make a warning: %+v", a)
			}
			// Called an error: the backup fails, and a dump is not kept.
			var before []string
			if contents != nil {
				before = contents(t)
			}
			tg.ExitCodes = proc.ExitCodes{Error: []int{0}}
			if _, err := d.Backup(ctx, x, tg); err == nil {
				t.Fatal("exit_codes = { error = [0] } did not make an error")
			}
			if contents != nil {
				if after := contents(t); strings.Join(after, ",") != strings.Join(before, ",") {
					t.Fatalf("a dump judged an error was kept:\nbefore %v\nafter  %v", before, after)
				}
			}
		})
	}
}

// A pg_dump that exited non-zero wrote a partial dump at best: exit_codes
// may not call such an exit ok or a warning, or that dump would be kept.
func TestPgDumpRefusesExitCodesThatKeepAFailedDump(t *testing.T) {
	base := drivers.Values{"database": "alexandria", "dir": "/b"}
	for _, codes := range []proc.ExitCodes{{OK: []int{1}}, {Warning: []int{1}}, {Warning: []int{0, 2}}, {OK: []int{255}}} {
		tg := &drivers.Target{Name: "db", Driver: "pg_dump", Impl: pgdump.Driver{}, Settings: base, ExitCodes: codes}
		err := pgdump.Driver{}.Validate(tg)
		var se *drivers.SettingsError
		if err == nil || !errors.As(err, &se) || se.Key != "exit_codes" {
			t.Errorf("%v: want an exit_codes error, got %v", codes, err)
		}
	}
	for _, codes := range []proc.ExitCodes{{Warning: []int{0}}, {Error: []int{0}}, {OK: []int{0}}, {Error: []int{1, 2}}} {
		tg := &drivers.Target{Name: "db", Driver: "pg_dump", Impl: pgdump.Driver{}, Settings: base, ExitCodes: codes}
		if err := (pgdump.Driver{}).Validate(tg); err != nil {
			t.Errorf("%v: %v", codes, err)
		}
	}
}
