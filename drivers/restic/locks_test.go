package restic

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

var lockNow = time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)

// testLock is a lock of host, taken age before lockNow.
func testLock(id, host string, pid int, age time.Duration) resticLock {
	return resticLock{ID: id, Hostname: host, Username: "root", PID: pid, Time: lockNow.Add(-age)}
}

// pids: 100 alive, 200 dead, 300 another user's (EPERM).
func fakePIDs(pid int) pidState {
	return map[int]pidState{100: pidAlive, 200: pidDead, 300: pidUnknown}[pid]
}

func TestDecideLocks(t *testing.T) {
	cases := []struct {
		name string
		lock resticLock
		want lockAction
	}{
		{"this host, dead, fresh", testLock("a", "here", 200, time.Minute), lockRemoveDead},
		{"this host, dead, old", testLock("a", "here", 200, 3*time.Hour), lockRemoveDead},
		{"this host, alive, fresh", testLock("a", "here", 100, time.Minute), lockIgnore},
		{"this host, alive, 45m", testLock("a", "here", 100, 45*time.Minute), lockKeep},
		{"this host, alive, 2h", testLock("a", "here", 100, 2*time.Hour), lockRemoveOld},
		// restic counts an EPERM as dead and would remove it; we may not.
		{"this host, another user's process, fresh", testLock("a", "here", 300, time.Minute), lockKeep},
		{"this host, another user's process, 2h", testLock("a", "here", 300, 2*time.Hour), lockRemoveOld},
		// A PID of another host is never looked up here: 200 is "dead" only on this host.
		{"other host, fresh", testLock("a", "there", 200, time.Minute), lockIgnore},
		{"other host, 29m: within the margin of restic's 30m", testLock("a", "there", 200, 29*time.Minute), lockKeep},
		{"other host, 27m", testLock("a", "there", 200, 27*time.Minute), lockIgnore},
		{"other host, 31m", testLock("a", "there", 200, 31*time.Minute), lockKeep},
		{"other host, exactly stale_lock_age", testLock("a", "there", 200, time.Hour), lockKeep},
		{"other host, 61m", testLock("a", "there", 200, 61*time.Minute), lockRemoveOld},
		{"other host, clock ahead of ours", testLock("a", "there", 200, -10*time.Minute), lockIgnore},
	}
	for _, c := range cases {
		ds, unlock := decideLocks([]resticLock{c.lock}, lockNow, "here", fakePIDs, time.Hour)
		if len(ds) != 1 || ds[0].action != c.want {
			t.Errorf("%s: got %+v, want action %d", c.name, ds, c.want)
		}
		if wantUnlock := c.want == lockRemoveDead || c.want == lockRemoveOld; unlock != wantUnlock {
			t.Errorf("%s: unlock = %v", c.name, unlock)
		}
	}
	// No hostname: no lock is this host's, so no PID is looked up.
	ds, _ := decideLocks([]resticLock{testLock("a", "", 200, time.Minute)}, lockNow, "", fakePIDs, time.Hour)
	if ds[0].action != lockIgnore {
		t.Errorf("unknown hostname: %+v", ds)
	}
}

// resticWouldRemove is restic 0.14's own rule, written out separately
// from decideLocks, with the margin for the time until `restic unlock`.
func resticWouldRemove(l resticLock, host string) bool {
	return lockNow.Sub(l.Time)+unlockMargin > resticStaleAfter || l.Hostname == host && fakePIDs(l.PID) != pidAlive
}

// Every combination of up to three locks: `restic unlock` runs exactly
// when something is to be removed and everything restic would remove with
// it is ours to remove; nothing younger than stale_lock_age is removed
// unless it is a dead process's of this host.
func TestDecideLocksNeverUnlocksAKeptLock(t *testing.T) {
	var pool []resticLock
	for _, host := range []string{"here", "there"} {
		for _, pid := range []int{100, 200, 300} {
			for _, age := range []time.Duration{-time.Minute, 0, 5 * time.Minute, 28 * time.Minute, 29 * time.Minute, 31 * time.Minute, 59 * time.Minute, 61 * time.Minute, 5 * time.Hour} {
				pool = append(pool, testLock(fmt.Sprintf("%s-%d-%s", host, pid, age), host, pid, age))
			}
		}
	}
	n := 0
	for i := range pool {
		for j := i; j < len(pool); j++ {
			for k := j; k < len(pool); k++ {
				locks := []resticLock{pool[i], pool[j], pool[k]}
				ds, unlock := decideLocks(locks, lockNow, "here", fakePIDs, time.Hour)
				anyRemove, blocked := false, false
				for _, d := range ds {
					removes := d.action == lockRemoveDead || d.action == lockRemoveOld
					anyRemove = anyRemove || removes
					if resticWouldRemove(d.lock, "here") && !removes {
						blocked = true
					}
					if removes && d.age <= time.Hour && !(d.lock.Hostname == "here" && fakePIDs(d.lock.PID) == pidDead) {
						t.Fatalf("removes %+v, younger than stale_lock_age", d)
					}
					if d.action == lockIgnore && resticWouldRemove(d.lock, "here") {
						t.Fatalf("silently keeps %+v, which restic deems stale", d)
					}
				}
				if unlock != (anyRemove && !blocked) {
					t.Fatalf("locks %+v: unlock = %v, removes something %v, would take a kept lock %v", ds, unlock, anyRemove, blocked)
				}
				n++
			}
		}
	}
	t.Logf("%d combinations", n)
}

func TestStaleLockAgeOption(t *testing.T) {
	var opt drivers.Option
	for _, o := range (Driver{}).Options() {
		if o.Name == "stale_lock_age" {
			opt = o
		}
	}
	if opt.Kind != drivers.Duration || opt.Default != "1h" {
		t.Fatalf("option %+v", opt)
	}
	for raw, ok := range map[string]bool{"30m": true, "1h": true, "720h": true, "29m59s": false, "10m": false, "never": false, "0s": false} {
		v, err := opt.Convert(raw)
		if ok != (err == nil) {
			t.Errorf("%q: %v, %v", raw, v, err)
		}
		if raw == "10m" && (err == nil || !strings.Contains(err.Error(), "at least 30m")) {
			t.Errorf("%q: %v", raw, err)
		}
	}
	note := func(tg *drivers.Target) string { return (Driver{}).Steps(tg)[1].Note }
	if n := note(&drivers.Target{Settings: drivers.Values{}}); !strings.Contains(n, "stale_lock_age 1h,") {
		t.Errorf("default note: %s", n)
	}
	if n := note(&drivers.Target{Settings: drivers.Values{"stale_lock_age": 90 * time.Minute}}); !strings.Contains(n, "stale_lock_age 1h30m,") {
		t.Errorf("note: %s", n)
	}
}

// lockRepo is an Executor playing a repository's locks: `cat lock` prints
// the JSON of a lock (an id missing from cat has vanished), and `unlock`
// leaves only the locks in afterUnlock.
type lockRepo struct {
	ids         []string
	cat         map[string]string
	afterUnlock []string
	ran         []string
}

func (r *lockRepo) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	r.ran = append(r.ran, strings.Join(c.Args, " "))
	res := proc.Result{Command: c.String()}
	switch c.Args[0] {
	case "list":
		res.Stdout = []byte(strings.Join(r.ids, "\n") + "\n")
	case "cat":
		out, ok := r.cat[c.Args[2]]
		if !ok {
			res.ExitCode, res.Class = 1, proc.ClassError
			return res, &proc.ToolError{Result: res}
		}
		res.Stdout = []byte(out)
	case "unlock":
		r.ids = r.afterUnlock
	}
	return res, nil
}

func (r *lockRepo) unlocked() bool {
	for _, c := range r.ran {
		if c == "unlock" {
			return true
		}
	}
	return false
}

func lockID(c byte) string { return strings.Repeat(string(c), 64) }

func lockJSON(host string, pid int, age time.Duration, exclusive bool) string {
	return fmt.Sprintf(`{
  "time": %q,
  "exclusive": %v,
  "hostname": %q,
  "username": "backup",
  "pid": %d
}
`, lockNow.Add(-age).Format(time.RFC3339Nano), exclusive, host, pid)
}

func TestApplyLockPolicy(t *testing.T) {
	old := drivers.Now
	drivers.Now = func() time.Time { return lockNow }
	t.Cleanup(func() { drivers.Now = old })
	here, _ := os.Hostname()
	const deadPID = 1 << 30 // above any pid_max: kill says ESRCH
	live := os.Getpid()
	a, b, c := lockID('a'), lockID('b'), lockID('c')
	// Not a local path: the locks are listed through `restic list locks`.
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": "sftp:backup@nas:/repo", "password_file": "/p"}}

	cases := []struct {
		name       string
		repo       *lockRepo
		wantUnlock bool
		want       []string // substrings, one per warning, in order
	}{
		{name: "no locks", repo: &lockRepo{}},
		{
			name: "a killed run's lock goes; a fresh one of another host stays, unreported",
			repo: &lockRepo{ids: []string{a, b}, afterUnlock: []string{b},
				cat: map[string]string{a: lockJSON(here, deadPID, 3*time.Minute, false), b: lockJSON("other", 7, time.Minute, false)}},
			wantUnlock: true,
			want:       []string{"removed 1 stale restic lock(s): aaaaaaaa (backup@" + here + " pid 1073741824, 3m old), its process is gone (a killed run on this host)"},
		},
		{
			name:       "an old lock goes",
			repo:       &lockRepo{ids: []string{a}, cat: map[string]string{a: lockJSON("other", 7, 2*time.Hour, true)}},
			wantUnlock: true,
			want:       []string{"removed 1 stale restic lock(s): aaaaaaaa (backup@other pid 7, exclusive, 2h old), older than stale_lock_age 1h"},
		},
		{
			name:       "restic keeps what we meant to remove: said so, not claimed removed",
			repo:       &lockRepo{ids: []string{a}, afterUnlock: []string{a}, cat: map[string]string{a: lockJSON("other", 7, 2*time.Hour, false)}},
			wantUnlock: true,
			want:       []string{"restic unlock did not remove lock aaaaaaaa (backup@other pid 7, 2h old), older than stale_lock_age 1h: restic deems it live; check and prune fail"},
		},
		{
			name: "a kept lock blocks unlock; both reported",
			repo: &lockRepo{ids: []string{a, b, c},
				cat: map[string]string{a: lockJSON(here, deadPID, time.Minute, false), b: lockJSON("other", 7, 45*time.Minute, true), c: lockJSON(here, live, time.Minute, false)}},
			want: []string{
				"did not remove stale restic lock aaaaaaaa (backup@" + here + " pid 1073741824, 1m old), its process is gone (a killed run on this host): `restic unlock` would also remove a lock kept",
				"kept stale restic lock bbbbbbbb (backup@other pid 7, exclusive, 45m old) until it is older than stale_lock_age 1h; backup, check and prune fail while it exists",
			},
		},
		{
			name:       "a vanished lock is skipped",
			repo:       &lockRepo{ids: []string{a, b}, afterUnlock: []string{}, cat: map[string]string{b: lockJSON("other", 7, 3*time.Hour, false)}},
			wantUnlock: true,
			want:       []string{"removed 1 stale restic lock(s): bbbbbbbb"},
		},
		{
			name: "a lock restic prints unreadably is reported, not guessed at",
			repo: &lockRepo{ids: []string{a}, cat: map[string]string{a: "lock of a newer restic\n"}},
			want: []string{"left restic lock aaaaaaaa alone"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := (Driver{}).applyLockPolicy(context.Background(), c.repo, tg)
			if err != nil {
				t.Fatal(err)
			}
			if c.repo.unlocked() != c.wantUnlock {
				t.Errorf("ran %q", c.repo.ran)
			}
			if len(got) != len(c.want) {
				t.Fatalf("warnings %q", got)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			for _, cmd := range c.repo.ran {
				if strings.Contains(cmd, "remove-all") {
					t.Errorf("ran %s", cmd)
				}
			}
		})
	}
}

func TestProcessState(t *testing.T) {
	for pid, want := range map[int]pidState{os.Getpid(): pidAlive, 1 << 30: pidDead, 0: pidUnknown, -1: pidUnknown} {
		if got := processState(pid); got != want {
			t.Errorf("pid %d: %d, want %d", pid, got, want)
		}
	}
}

// A local repository's locks are its locks/ directory, read without
// running restic: only complete locks (named by their ID) count, and a
// missing directory holds none.
func TestLockIDsOfLocalRepository(t *testing.T) {
	dir := t.TempDir()
	tg := &drivers.Target{Name: "library", Settings: drivers.Values{"repository": dir, "password_file": "/p"}}
	ran := &lockRepo{}
	for _, repo := range []string{dir, "local:" + dir} {
		tg.Settings["repository"] = repo
		if ids, err := (Driver{}).lockIDs(context.Background(), ran, tg); err != nil || len(ids) != 0 {
			t.Fatalf("%s without locks/: %v %v", repo, ids, err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "locks"), 0o700); err != nil {
		t.Fatal(err)
	}
	a, b := lockID('a'), lockID('b')
	for _, name := range []string{a, b, a + "-tmp-1234567", "README"} {
		if err := os.WriteFile(filepath.Join(dir, "locks", name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := (Driver{}).lockIDs(context.Background(), ran, tg)
	if err != nil || !slices.Equal(ids, []string{a, b}) {
		t.Fatalf("locks %v %v", ids, err)
	}
	if len(ran.ran) != 0 {
		t.Fatalf("ran restic for a local repository: %q", ran.ran)
	}
}
