package restic_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// restic exits 3 when it could not read some files: the snapshot exists,
// so the target is a warning, not a failure, unless the plan says so.
func TestResticExit3IsWarning(t *testing.T) {
	dir := t.TempDir()
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": dir, "password_file": drivertest.WriteFile(t, dir, "p", "x", 0o600),
		"paths": []string{dir}, "host": "h"}}
	x := drivertest.Scripted{Res: proc.Result{ExitCode: 3,
		Stdout: []byte(`{"message_type":"status","percent_done":1}` + "\n" + `{"message_type":"summary","snapshot_id":"abcd1234","total_files_processed":3,"total_bytes_processed":99}` + "\n"),
		Stderr: []byte("error: open /srv/library/locked.epub: permission denied\nWarning: at least one source file could not be read\n")}}
	a, err := restic.Driver{}.Backup(context.Background(), x, tg)
	if err != nil || a.ID != "abcd1234" || a.Bytes != 99 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "locked.epub") {
		t.Fatalf("artifact %+v err %v", a, err)
	}
	tg.ExitCodes = proc.ExitCodes{Error: []int{3}}
	if _, err := (restic.Driver{}).Backup(context.Background(), x, tg); err == nil {
		t.Fatal("exit_codes = { error = [3] } must make exit 3 a failure")
	}
}

// A lock left by a killed restic is removed (by restic unlock, which only
// removes stale locks) and reported; the backup goes on.
func TestResticRemovesStaleLockOfKilledRun(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.Target("library", nil)
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	// A restic killed mid-backup: a sparse 8 GiB file keeps it busy.
	big, err := os.Create(filepath.Join(f.Src, "big.img"))
	if err != nil {
		t.Fatal(err)
	}
	big.Truncate(8 << 30)
	big.Close()
	cmd := exec.Command("restic", "backup", "--quiet", "--", f.Src)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+f.Repo, "RESTIC_PASSWORD_FILE="+f.Pass)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A whole lock: restic writes <id>-tmp-<n>, renames it to <id>
		// and makes it read-only. Killed before that, it leaves no lock.
		if complete(f.Repo, f.LockFiles(t)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("restic never took its lock")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM) // restic 0.14 leaves its lock on SIGTERM
	cmd.Wait()
	if len(f.LockFiles(t)) == 0 {
		t.Skip("this restic removed its lock on SIGTERM (0.17+): nothing stale to test")
	}
	os.Remove(filepath.Join(f.Src, "big.img"))
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], "removed 1 stale restic lock") {
		t.Fatalf("warnings %v", a.Warnings)
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("check after the stale lock: %v", err)
	}
}

// complete reports whether one of the locks is written: read-only.
func complete(repo string, ids []string) bool {
	for _, id := range ids {
		if fi, err := os.Stat(filepath.Join(repo, "locks", id)); err == nil && fi.Mode().Perm()&0o222 == 0 {
			return true
		}
	}
	return false
}

func TestResticBackupWithoutSummaryFails(t *testing.T) {
	dir := t.TempDir()
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": dir, "password_command": "x", "paths": []string{dir}}}
	_, err := restic.Driver{}.Backup(context.Background(), drivertest.Scripted{Res: proc.Result{Stdout: []byte("garbage\n")}}, tg)
	if err == nil || !strings.Contains(err.Error(), "no snapshot id") {
		t.Fatalf("got %v", err)
	}
}
