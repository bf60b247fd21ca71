package drivers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

const (
	resticEmptySummary = `{"message_type":"summary","files_new":0,"files_changed":0,"files_unmodified":0,"total_files_processed":0,"total_bytes_processed":0,"snapshot_id":"abcd1234"}`
	borgEmptyCreate    = `{"archive": {"name": "library@2026-11-26T02:00:00", "stats": {"original_size": 481, "nfiles": 0}}}`
)

// When the empty snapshot or archive cannot be removed, the backup still
// fails (so retention does not run), and the error says it is still there
// and which one to remove.
func TestEmptySourceGuardRemovalFails(t *testing.T) {
	locked := proc.Result{ExitCode: 1, Stderr: []byte("unable to create lock in backend: repository is already locked\n")}
	cases := []struct {
		name   string
		driver drivers.Driver
		target *drivers.Target
		x      *drivertest.ByCommand
		want   string
	}{
		{"restic", restic.Driver{}, drivertest.ResticUnitTarget(t), &drivertest.ByCommand{Answers: map[string]proc.Result{
			"backup": {Stdout: []byte(resticEmptySummary + "\n")}, "forget": locked}},
			"removing the snapshot abcd1234 failed, so remove it by hand"},
		{"borg", borg.Driver{}, drivertest.BorgTarget(t, nil), &drivertest.ByCommand{Answers: map[string]proc.Result{
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
		x      *drivertest.ByCommand
	}{
		{"restic", restic.Driver{}, drivertest.ResticUnitTarget(t), &drivertest.ByCommand{Answers: map[string]proc.Result{
			"backup": {Stdout: []byte(`{"message_type":"summary","snapshot_id":"abcd1234"}` + "\n")}}}},
		{"borg", borg.Driver{}, drivertest.BorgTarget(t, nil), &drivertest.ByCommand{Answers: map[string]proc.Result{
			"create": {Stdout: []byte(`{"archive": {"name": "library@2026-11-26T02:00:00", "stats": {"original_size": 481}}}`)}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := c.driver.Backup(context.Background(), c.x, c.target)
			if err != nil || a.ID == "" || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "no file count") {
				t.Fatalf("want the backup kept with a warning, got %+v %v", a, err)
			}
			for _, l := range c.x.Argv {
				if strings.Contains(l, " forget") || strings.Contains(l, " delete") {
					t.Fatalf("removed on a guess: %s", l)
				}
			}
		})
	}
}
