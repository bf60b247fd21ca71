package drivers_test

import (
	"context"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// scripted answers every command with one result.
type scripted struct {
	res drivers.Result
}

func (s scripted) Run(_ context.Context, c drivers.Command) (drivers.Result, error) {
	r := s.res
	r.Command = c.String()
	r.Class = c.Codes.Classify(r.ExitCode)
	if r.Class == drivers.ClassError {
		return r, &drivers.ToolError{Result: r}
	}
	return r, nil
}

// restic exits 3 when it could not read some files: the snapshot exists,
// so the target is a warning, not a failure, unless the plan says so.
func TestResticExit3IsWarning(t *testing.T) {
	dir := t.TempDir()
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": dir, "password_file": writeFile(t, dir, "p", "x", 0o600),
		"paths": []string{dir}, "host": "h"}}
	x := scripted{drivers.Result{ExitCode: 3,
		Stdout: []byte(`{"message_type":"status","percent_done":1}` + "\n" + `{"message_type":"summary","snapshot_id":"abcd1234","total_bytes_processed":99}` + "\n"),
		Stderr: []byte("error: open /srv/library/locked.epub: permission denied\nWarning: at least one source file could not be read\n")}}
	a, err := drivers.Restic{}.Backup(context.Background(), x, tg)
	if err != nil || a.ID != "abcd1234" || a.Bytes != 99 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "locked.epub") {
		t.Fatalf("artifact %+v err %v", a, err)
	}
	tg.ExitCodes = drivers.ExitCodes{Error: []int{3}}
	if _, err := (drivers.Restic{}).Backup(context.Background(), x, tg); err == nil {
		t.Fatal("exit_codes = { error = [3] } must make exit 3 a failure")
	}
}

func TestResticBackupWithoutSummaryFails(t *testing.T) {
	dir := t.TempDir()
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": dir, "password_command": "x", "paths": []string{dir}}}
	_, err := drivers.Restic{}.Backup(context.Background(), scripted{drivers.Result{Stdout: []byte("garbage\n")}}, tg)
	if err == nil || !strings.Contains(err.Error(), "no snapshot id") {
		t.Fatalf("got %v", err)
	}
}
