package restic_test

import (
	"context"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// commandLog is the real executor, recording what ran.
type commandLog struct {
	proc.ProcessExecutor
	ran []string
}

func (c *commandLog) Run(ctx context.Context, cmd proc.Command) (proc.Result, error) {
	c.ran = append(c.ran, strings.Join(cmd.Args, " "))
	return c.ProcessExecutor.Run(ctx, cmd)
}

// shiftClock makes the lock policy see time d later than restic does.
func shiftClock(t *testing.T, d time.Duration) {
	old := drivers.Now
	drivers.Now = func() time.Time { return time.Now().Add(d) }
	t.Cleanup(func() { drivers.Now = old })
}

// A lock left by a restic killed on this host is removed before the next
// backup, the report says whose it was, and check (exclusive) then passes.
func TestResticLockPolicyKilledRunOnThisHost(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.Target("library", nil)
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	id, pid := f.PlantLock(t, "")
	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warnings: %q", a.Warnings)
	host, _ := os.Hostname()
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	want := "removed 1 stale restic lock(s): " + id[:8] + " (" + me.Username + "@" + host + " pid " + strconv.Itoa(pid) + ", "
	if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], want) || !strings.Contains(a.Warnings[0], "its process is gone (a killed run on this host)") {
		t.Fatalf("warnings %q", a.Warnings)
	}
	if left := f.LockFiles(t); len(left) != 0 {
		t.Fatalf("locks left: %v", left)
	}
	if err := r.Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("check after the stale lock: %v", err)
	}
}

// Another host's lock, really fresh: kept silently, and the backup goes on.
// Then the policy's clock is moved on, so the same lock looks 45 minutes
// old (kept, and it stops `restic unlock` from taking a killed run's lock
// with it) and then 2 hours old (removable by our policy, but restic's own
// clock says it is fresh, so `restic unlock` keeps it, and the report must
// say so rather than claim it gone).
func TestResticLockPolicyOtherHost(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	ctx := context.Background()
	r := restic.Driver{}
	tg := f.Target("library", nil)
	if err := r.Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	other, _ := f.PlantLock(t, "other-host")

	a, err := r.Backup(ctx, f.X, tg)
	if err != nil {
		t.Fatalf("backup beside another host's lock: %v", err)
	}
	if len(a.Warnings) != 0 || !slices.Contains(f.LockFiles(t), other) {
		t.Fatalf("warnings %q, locks %v", a.Warnings, f.LockFiles(t))
	}
	// What the warnings promise: any lock makes check (exclusive) fail.
	if err := r.Verify(ctx, f.X, tg, a); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("check beside another host's lock: %v", err)
	}

	dead, _ := f.PlantLock(t, "")
	shiftClock(t, 45*time.Minute)
	x := &commandLog{}
	a, err = r.Backup(ctx, x, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("45 minutes on, warnings: %q", a.Warnings)
	if slices.Contains(x.ran, "unlock") {
		t.Fatalf("ran restic unlock, which would remove the kept lock too: %q", x.ran)
	}
	if len(a.Warnings) != 2 ||
		!drivertest.HasWarning(a.Warnings, "did not remove stale restic lock "+dead[:8], "would also remove a lock kept") ||
		!drivertest.HasWarning(a.Warnings, "kept stale restic lock "+other[:8]+" (root@other-host pid ", "until it is older than stale_lock_age 1h") {
		t.Fatalf("warnings %q", a.Warnings)
	}
	if locks := f.LockFiles(t); !slices.Contains(locks, other) || !slices.Contains(locks, dead) {
		t.Fatalf("locks %v", locks)
	}

	shiftClock(t, 2*time.Hour)
	x = &commandLog{}
	a, err = r.Backup(ctx, x, tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("2 hours on, warnings: %q", a.Warnings)
	if !slices.Contains(x.ran, "unlock") || len(a.Warnings) != 2 ||
		!drivertest.HasWarning(a.Warnings, "removed 1 stale restic lock(s): "+dead[:8]) ||
		!drivertest.HasWarning(a.Warnings, "restic unlock did not remove lock "+other[:8], "restic deems it live") {
		t.Fatalf("ran %q, warnings %q", x.ran, a.Warnings)
	}
	if locks := f.LockFiles(t); len(locks) != 1 || locks[0] != other {
		t.Fatalf("locks %v", locks)
	}
}
