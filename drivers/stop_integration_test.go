package drivers_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/restictest"
)

// A run is stopped by cancelling its context: that is what SIGTERM or
// SIGINT to alexandria-backup does. Each tool must then be stopped with the
// signal it cleans up on, and leave neither a lock nor anything committed.

// slowSource adds to dir a sparse file big enough that no backup of it
// ends before the test stops it (restic and borg read every zero).
func slowSource(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4 << 30); err != nil {
		t.Fatal(err)
	}
}

// stopOnceHeld runs backup with a context that is cancelled once held()
// says the tool has taken its lock, and settle later.
func stopOnceHeld(t *testing.T, held func() bool, settle time.Duration, backup func(context.Context) error) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- backup(ctx) }()
	for deadline := time.Now().Add(60 * time.Second); !held(); time.Sleep(10 * time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("the backup ended before it was stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the tool never took its lock")
		}
	}
	time.Sleep(settle)
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * proc.StopGrace):
		t.Fatal("the stopped backup did not return")
	}
	return nil
}

// resticStopFixture is a restic repository and target whose backup takes
// long enough to be stopped.
func resticStopFixture(t *testing.T) (*drivertest.ResticFixture, *drivers.Target) {
	f := drivertest.NewResticFixture(t)
	slowSource(t, f.Src)
	tg := f.Target("library", nil)
	if err := (restic.Driver{}).Init(context.Background(), f.X, tg); err != nil {
		t.Fatal(err)
	}
	return f, tg
}

// assertNoResticLock: no lock file, and restic itself lists none.
func assertNoResticLock(t *testing.T, f *drivertest.ResticFixture) {
	t.Helper()
	// A restic stopped while writing its lock may leave the lock's
	// temporary file (<id>-tmp-<n>), which restic never reads as a lock.
	var locks []string
	for _, id := range restictest.LockFiles(t, f.Repo) {
		if !strings.Contains(id, "-tmp-") {
			locks = append(locks, id)
		}
	}
	if len(locks) != 0 {
		t.Fatalf("the stopped restic left its lock: %v", locks)
	}
	res, err := f.X.Run(context.Background(), proc.Command{Program: "restic", Args: []string{"list", "locks", "--no-lock"},
		Env: []proc.EnvVar{{Name: "RESTIC_REPOSITORY", Value: f.Repo}, {Name: "RESTIC_PASSWORD_FILE", Value: f.Pass}}})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "" {
		t.Fatalf("restic list locks: %v %q", err, res.Stdout)
	}
}

// restic 0.14 removes its lock only when stopped with SIGINT; killed by
// SIGTERM it leaves the lock, and every exclusive command (check, prune)
// fails until someone runs `restic unlock`. The backup command the driver
// builds, run as the executor runs it and stopped once restic holds its
// lock (past the 200 ms in which restic 0.14 does not count a new lock as
// its own yet), exits 130 and leaves no lock nor snapshot.
func TestResticStopSignalReleasesTheLock(t *testing.T) {
	f, tg := resticStopFixture(t)
	var backup *proc.Command
	for _, s := range (restic.Driver{}).Steps(tg) {
		if s.Phase == drivers.PhaseBackup && s.Command != nil {
			backup = s.Command
		}
	}
	var res proc.Result
	held := func() bool { return len(restictest.LockFiles(t, f.Repo)) > 0 }
	err := stopOnceHeld(t, held, time.Second, func(ctx context.Context) error {
		var err error
		res, err = f.X.Run(ctx, *backup)
		return err
	})
	// restic 0.14 exits 130 from its SIGINT handler, or 1 when its
	// interrupted command returns first; both paths run its cleanup, which
	// removes the lock. Killed by a signal (SIGTERM), it cleans up nothing.
	if !errors.Is(err, context.Canceled) || res.ExitCode != 130 && res.ExitCode != 1 || res.Signal != "" {
		t.Fatalf("restic backup: %v, exit %d %s, want it stopped by SIGINT (exit 130 or 1, not killed)", err, res.ExitCode, res.Signal)
	}
	assertNoResticLock(t, f)
	if snaps, err := (restic.Driver{}).Snapshots(context.Background(), f.X, tg); err != nil || len(snaps) != 0 {
		t.Fatalf("snapshots after a stopped backup: %v %v", snaps, err)
	}
}

// Stopped while it is still taking its lock, even a restic stopped with
// SIGINT leaves it (0.14 counts a new lock as its own only after a 200 ms
// check for other locks): the driver removes it at once, rather than the
// next run removing it with a warning.
func TestResticStoppedBackupLeavesNoLock(t *testing.T) {
	f, tg := resticStopFixture(t)
	held := func() bool { return len(restictest.LockFiles(t, f.Repo)) > 0 }
	err := stopOnceHeld(t, held, 0, func(ctx context.Context) error { _, err := (restic.Driver{}).Backup(ctx, f.X, tg); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("backup: %v, want it cancelled", err)
	}
	t.Logf("stopped: %v", err)
	assertNoResticLock(t, f)
}

// borg 1.2 releases its locks on SIGTERM and commits nothing; on SIGINT it
// commits what it has read as a .checkpoint archive, which is why it is not
// stopped that way.
func TestBorgStoppedRunLeavesNoLockNorArchive(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	slowSource(t, f.Src)
	b := borg.Driver{}
	tg := f.Target("library", nil)
	if err := b.Init(context.Background(), f.X, tg); err != nil {
		t.Fatal(err)
	}
	held := func() bool { _, err := os.Stat(filepath.Join(f.Repo, "lock.roster")); return err == nil }
	err := stopOnceHeld(t, held, time.Second, func(ctx context.Context) error { _, err := b.Backup(ctx, f.X, tg); return err })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("backup: %v, want it cancelled", err)
	}
	t.Logf("stopped: %v", err)
	matches, _ := filepath.Glob(filepath.Join(f.Repo, "lock*"))
	if len(matches) != 0 {
		t.Fatalf("the stopped borg left its lock: %v", matches)
	}
	c := proc.Command{Program: "borg", Args: []string{"list", "--json", "--consider-checkpoints", "--lock-wait=0", f.Repo},
		Env:        []proc.EnvVar{{Name: "BORG_PASSPHRASE_FD", Value: "3"}, {Name: "BORG_BASE_DIR", Value: tg.Env["BORG_BASE_DIR"]}},
		ExtraFiles: []string{f.Pass}}
	res, err := f.X.Run(context.Background(), c)
	if err != nil {
		t.Fatalf("borg list after a stopped backup: %v", err)
	}
	var list struct {
		Archives []struct {
			Name string `json:"name"`
		} `json:"archives"`
	}
	if err := json.Unmarshal(res.Stdout, &list); err != nil || len(list.Archives) != 0 {
		t.Fatalf("archives after a stopped backup: %+v %v", list.Archives, err)
	}
}
