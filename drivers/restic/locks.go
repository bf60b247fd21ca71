package restic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The stale-lock policy has to fit around restic 0.14's own rules
// (internal/restic/lock.go):
//   - restic deems a lock stale when it is older than 30 minutes, or when
//     it is from this hostname and its PID is not running (any error of
//     the signal restic sends counts as "not running");
//   - a live restic refreshes its lock every 5 minutes, so a live lock is
//     never that old;
//   - any lock, stale or not, makes an exclusive lock (check, prune) fail,
//     and an exclusive one makes backup fail too; 0.14 never drops a stale
//     lock by itself;
//   - the only way to remove a lock short of --remove-all (which removes
//     live ones too, so we never use it) is `restic unlock`, which removes
//     every lock it deems stale at once and ignores unreadable ones.
// So we cannot remove one lock and keep another: we decide per lock, and
// run `restic unlock` only when everything it would take is ours to take.

// resticStaleAfter is restic's own age of a stale lock.
const resticStaleAfter = 30 * time.Minute

// unlockMargin: time passes between reading the locks and `restic unlock`
// (every restic command derives the key again), so a lock this close to
// 30 minutes already counts as one `restic unlock` may remove.
const unlockMargin = 2 * time.Minute

// defaultStaleLockAge is stale_lock_age's default.
const defaultStaleLockAge = time.Hour

// checkStaleLockAge refuses an age below restic's 30 minutes: `restic
// unlock` never removes another host's lock younger than that, so a smaller
// value would promise a removal that cannot happen.
func checkStaleLockAge(v any) error {
	if d := v.(time.Duration); d < resticStaleAfter {
		return fmt.Errorf("must be at least 30m, not %q: restic unlock never removes another host's lock younger than 30 minutes", humanize.Duration(d))
	}
	return nil
}

func staleLockAge(t *drivers.Target) time.Duration {
	if d, ok := t.Settings["stale_lock_age"].(time.Duration); ok {
		return d
	}
	return defaultStaleLockAge
}

// resticLock is what `restic cat lock ID` prints (0.14: time, exclusive,
// hostname, username, pid, and uid/gid when not 0).
type resticLock struct {
	ID        string    `json:"-"`
	Time      time.Time `json:"time"`
	Exclusive bool      `json:"exclusive"`
	Hostname  string    `json:"hostname"`
	Username  string    `json:"username"`
	PID       int       `json:"pid"`
}

type pidState int

const (
	pidAlive   pidState = iota
	pidDead             // kill(pid, 0) said ESRCH: no such process
	pidUnknown          // any other answer (EPERM: another user's process); restic counts it as dead
)

// processState asks the kernel about a PID of this host with signal 0,
// which is never delivered.
func processState(pid int) pidState {
	if pid <= 0 {
		return pidUnknown
	}
	err := syscall.Kill(pid, 0)
	switch {
	case err == nil:
		return pidAlive
	case errors.Is(err, syscall.ESRCH):
		return pidDead
	}
	return pidUnknown
}

type lockAction int

const (
	lockIgnore     lockAction = iota // a live process's lock, as far as anyone can tell: kept without a word
	lockRemoveDead                   // this host's, and its process is gone: a killed run's
	lockRemoveOld                    // older than stale_lock_age
	lockKeep                         // stale by restic's rule, but ours to keep until older than stale_lock_age
)

type lockDecision struct {
	lock   resticLock
	age    time.Duration
	action lockAction
}

// decideLocks is the policy, with no I/O: what to do with each lock, and
// whether `restic unlock` may run. host is this machine's hostname (what
// restic records, not the target's `host`); state tells a PID's fate on
// this host. unlock is true only when there is something to remove and
// no lock `restic unlock` would also take is one we keep.
func decideLocks(locks []resticLock, now time.Time, host string, state func(int) pidState, maxAge time.Duration) (ds []lockDecision, unlock bool) {
	remove, keep := false, false
	for _, l := range locks {
		d := lockDecision{lock: l, age: now.Sub(l.Time)}
		pid := pidAlive // a PID of another host means nothing here
		if host != "" && l.Hostname == host {
			pid = state(l.PID)
		}
		// What `restic unlock` would remove, with a margin on its clock.
		resticStale := d.age > resticStaleAfter-unlockMargin || pid != pidAlive
		switch {
		case pid == pidDead:
			// Provably dead, and our own run lock is held, so not ours either.
			d.action = lockRemoveDead
		case d.age > maxAge:
			d.action = lockRemoveOld
		case resticStale:
			d.action = lockKeep
		}
		remove = remove || d.action == lockRemoveDead || d.action == lockRemoveOld
		keep = keep || d.action == lockKeep
		ds = append(ds, d)
	}
	return ds, remove && !keep
}

var lockIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// lockIDs lists the repository's locks. A local repository's locks/ is
// read directly: nearly always empty, and `restic list locks` would cost a
// key derivation (half a second) before every backup to say so. A missing
// locks/ holds no lock: no repository there yet, which restic reports.
func (r Driver) lockIDs(ctx context.Context, x proc.Executor, t *drivers.Target) ([]string, error) {
	if dir := localRepo(t); dir != "" {
		entries, err := os.ReadDir(filepath.Join(dir, "locks"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		var ids []string
		for _, e := range entries {
			// restic saves a lock under a temporary name, then renames it.
			if lockIDRE.MatchString(e.Name()) {
				ids = append(ids, e.Name())
			}
		}
		return ids, err
	}
	res, err := x.Run(ctx, r.cmd(t, "list", "locks", "--no-lock"))
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if line = strings.TrimSpace(line); lockIDRE.MatchString(line) {
			ids = append(ids, line)
		}
	}
	return ids, nil
}

// readLocks reads every lock. A lock that cannot be read is skipped: it
// vanished meanwhile (its owner finished), and `restic unlock` ignores
// unreadable locks too. A vanished lock costs restic 0.14's retries (about
// 45 s) before `cat` gives up.
func (r Driver) readLocks(ctx context.Context, x proc.Executor, t *drivers.Target, ids []string) ([]resticLock, []string, error) {
	var locks []resticLock
	var notes []string
	for _, id := range ids {
		res, err := x.Run(ctx, r.cmd(t, "cat", "lock", id, "--no-lock"))
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			continue
		}
		l := resticLock{ID: id}
		if err := json.Unmarshal(res.Stdout, &l); err != nil || l.Time.IsZero() {
			// Not silent: a restic printing something else would
			// otherwise turn the whole policy off unnoticed.
			notes = append(notes, fmt.Sprintf("left restic lock %s alone: `restic cat lock` printed no lock this version understands", shortID(id)))
			continue
		}
		locks = append(locks, l)
	}
	return locks, notes, nil
}

// applyLockPolicy runs before a backup, under our own run lock. It removes
// the locks decideLocks says to, through `restic unlock`, then lists again
// and reports what actually went. Every lock removed, and every stale lock
// kept, is a warning; a fresh lock of another process is normal (another
// host backing up into a shared repository) and not reported.
func (r Driver) applyLockPolicy(ctx context.Context, x proc.Executor, t *drivers.Target) ([]string, error) {
	ids, err := r.lockIDs(ctx, x, t)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	locks, notes, err := r.readLocks(ctx, x, t, ids)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	maxAge := staleLockAge(t)
	ds, unlock := decideLocks(locks, drivers.Now(), host, processState, maxAge)
	gone := map[string]bool{}
	if unlock {
		if _, err := x.Run(ctx, r.cmd(t, "unlock")); err != nil {
			return nil, err
		}
		after, err := r.lockIDs(ctx, x, t)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			gone[d.lock.ID] = true
		}
		for _, id := range after {
			delete(gone, id)
		}
	}
	var removed []string
	for _, d := range ds {
		why := ""
		switch d.action {
		case lockIgnore:
			continue
		case lockRemoveDead:
			why = "its process is gone (a killed run on this host)"
		case lockRemoveOld:
			why = "older than stale_lock_age " + humanize.Duration(maxAge)
		case lockKeep:
			notes = append(notes, fmt.Sprintf("kept stale restic lock %s until it is older than stale_lock_age %s; %s fail while it exists",
				describeLock(d), humanize.Duration(maxAge), blockedBy(d.lock)))
			continue
		}
		switch {
		case !unlock:
			notes = append(notes, fmt.Sprintf("did not remove stale restic lock %s, %s: `restic unlock` would also remove a lock kept until older than stale_lock_age",
				describeLock(d), why))
		case gone[d.lock.ID]:
			removed = append(removed, describeLock(d)+", "+why)
		default:
			notes = append(notes, fmt.Sprintf("restic unlock did not remove lock %s, %s: restic deems it live; %s fail while it exists",
				describeLock(d), why, blockedBy(d.lock)))
		}
	}
	if len(removed) > 0 {
		notes = append([]string{fmt.Sprintf("removed %d stale restic lock(s): %s", len(removed), strings.Join(removed, "; "))}, notes...)
	}
	return notes, nil
}

// describeLock names a lock the way an operator finds its owner.
func describeLock(d lockDecision) string {
	kind := ""
	if d.lock.Exclusive {
		kind = ", exclusive"
	}
	return fmt.Sprintf("%s (%s@%s pid %d%s, %s old)", shortID(d.lock.ID), d.lock.Username, d.lock.Hostname, d.lock.PID, kind, humanize.Duration(d.age))
}

// blockedBy says what a lock stops: any lock blocks check and prune
// (exclusive), an exclusive one blocks backups too.
func blockedBy(l resticLock) string {
	if l.Exclusive {
		return "backup, check and prune"
	}
	return "check and prune"
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func (r Driver) TendLocks(ctx context.Context, x proc.Executor, t *drivers.Target) ([]string, error) {
	return r.applyLockPolicy(ctx, x, t)
}
