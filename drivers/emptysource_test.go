package drivers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// byCommand answers each command by its first argument (restic list
// locks: none), judges the exit code with the command's own Codes, and
// records every argv. For what the real tools cannot be made to do: fail
// to remove the snapshot they just made, or leave out their file count.
type byCommand struct {
	answers map[string]drivers.Result
	argv    []string
}

func (b *byCommand) Run(_ context.Context, c drivers.Command) (drivers.Result, error) {
	b.argv = append(b.argv, c.Program+" "+strings.Join(c.Args, " "))
	var r drivers.Result
	if len(c.Args) > 0 {
		r = b.answers[c.Args[0]]
	}
	r.Command = c.String()
	r.Class = c.Codes.Classify(r.ExitCode)
	if r.Class == drivers.ClassError {
		return r, &drivers.ToolError{Result: r}
	}
	return r, nil
}

const (
	resticEmptySummary = `{"message_type":"summary","files_new":0,"files_changed":0,"files_unmodified":0,"total_files_processed":0,"total_bytes_processed":0,"snapshot_id":"abcd1234"}`
	borgEmptyCreate    = `{"archive": {"name": "library@2026-11-26T02:00:00", "stats": {"original_size": 481, "nfiles": 0}}}`
)

func resticUnitTarget(t *testing.T) *drivers.Target {
	dir := t.TempDir()
	return &drivers.Target{Name: "library", Driver: "restic", Impl: drivers.Restic{}, Settings: drivers.Values{"repository": dir,
		"password_file": writeFile(t, dir, "p", "x", 0o600), "paths": []string{dir}, "host": "h"}}
}

// When the empty snapshot or archive cannot be removed, the backup still
// fails (so retention does not run), and the error says it is still there
// and which one to remove.
func TestEmptySourceGuardRemovalFails(t *testing.T) {
	locked := drivers.Result{ExitCode: 1, Stderr: []byte("unable to create lock in backend: repository is already locked\n")}
	cases := []struct {
		name   string
		driver drivers.Driver
		target *drivers.Target
		x      *byCommand
		want   string
	}{
		{"restic", drivers.Restic{}, resticUnitTarget(t), &byCommand{answers: map[string]drivers.Result{
			"backup": {Stdout: []byte(resticEmptySummary + "\n")}, "forget": locked}},
			"removing the snapshot abcd1234 failed, so remove it by hand"},
		{"borg", drivers.Borg{}, borgTarget(t, nil), &byCommand{answers: map[string]drivers.Result{
			"create": {Stdout: []byte(borgEmptyCreate)}, "delete": {ExitCode: 2, Stderr: []byte("Failed to create/acquire the lock\n")}}},
			"removing the archive library@2026-11-26T02:00:00 failed, so remove it by hand"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.driver.Backup(context.Background(), c.x, c.target)
			var se *drivers.SettingsError
			if !errors.As(err, &se) || se.Key != "paths" || !strings.Contains(err.Error(), "0 files after excludes") || !strings.Contains(err.Error(), c.want) || a.ID != "" {
				t.Fatalf("want a failed backup saying %q, got %+v %v", c.want, a, err)
			}
			if drivers.Transient(c.driver, err) {
				t.Errorf("a refusal must not be retried: %v", err)
			}
		})
	}
}

// A report without the file count keeps the backup, with a warning:
// nothing is removed on a guess.
func TestEmptySourceGuardNeedsTheToolsCount(t *testing.T) {
	cases := []struct {
		name   string
		driver drivers.Driver
		target *drivers.Target
		x      *byCommand
	}{
		{"restic", drivers.Restic{}, resticUnitTarget(t), &byCommand{answers: map[string]drivers.Result{
			"backup": {Stdout: []byte(`{"message_type":"summary","snapshot_id":"abcd1234"}` + "\n")}}}},
		{"borg", drivers.Borg{}, borgTarget(t, nil), &byCommand{answers: map[string]drivers.Result{
			"create": {Stdout: []byte(`{"archive": {"name": "library@2026-11-26T02:00:00", "stats": {"original_size": 481}}}`)}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.driver.Backup(context.Background(), c.x, c.target)
			if err != nil || a.ID == "" || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "no file count") {
				t.Fatalf("want the backup kept with a warning, got %+v %v", a, err)
			}
			for _, l := range c.x.argv {
				if strings.Contains(l, " forget") || strings.Contains(l, " delete") {
					t.Fatalf("removed on a guess: %s", l)
				}
			}
		})
	}
}
