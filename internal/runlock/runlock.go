// Package runlock is the run lock: one exclusive flock(2) on a file, so
// that two runs of the same configuration never overlap.
//
// flock rather than a PID file: the kernel releases the lock when the
// process holding it dies, however it dies (SIGKILL, OOM killer, power
// loss), so a crashed run never leaves a stale lock that stops backups for
// days. The file itself only says who holds the lock, for the message a
// refused run prints; it is never removed (removing a lock file races with
// a process that has opened it and is about to lock it: two runs would then
// each hold a lock, on two different files).
//
// The descriptor is opened close-on-exec (Go's default), so the tools a
// run starts do not inherit it: a child that outlived the run would
// otherwise keep the lock.
package runlock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Holder says who holds the lock; it is written into the lock file.
type Holder struct {
	PID       int       `json:"pid"`
	Host      string    `json:"host,omitempty"`
	StartedAt time.Time `json:"started_at"`
	Command   string    `json:"command,omitempty"` // e.g. "run weekly"
	// Plan and Targets say what the holder works on, for `status`: the
	// plan it runs ("" when none) and the targets it may touch. Both are
	// absent from the lock file of an older version, which still reads:
	// status then finds them in Command.
	Plan    string   `json:"plan,omitempty"`
	Targets []string `json:"targets,omitempty"`
}

// Me is a Holder describing this process, started now.
func Me(command string) Holder {
	host, _ := os.Hostname()
	return Holder{PID: os.Getpid(), Host: host, StartedAt: time.Now().UTC().Truncate(time.Second), Command: command}
}

// Lock is a held run lock.
type Lock struct {
	f *os.File
}

// HeldError is returned when another process holds the lock.
type HeldError struct {
	Path   string
	Holder Holder // zero when the holder's details could not be read
	Waited time.Duration
}

// String names the holder: "pid 123 (run nightly), started
// 2026-11-26T02:00:00Z (5m0s ago)", with " on HOST" when that is not this
// host, or "another process" when its details are unknown.
func (h Holder) String() string {
	if h.PID <= 0 {
		return "another process"
	}
	who := fmt.Sprintf("pid %d", h.PID)
	if h.Host != "" {
		if me, _ := os.Hostname(); me != h.Host {
			who += " on " + h.Host
		}
	}
	if h.Command != "" {
		who += fmt.Sprintf(" (%s)", h.Command)
	}
	if !h.StartedAt.IsZero() {
		who += fmt.Sprintf(", started %s (%s ago)", h.StartedAt.Format(time.RFC3339),
			time.Since(h.StartedAt).Round(time.Second))
	}
	return who
}

func (e *HeldError) Error() string {
	msg := fmt.Sprintf("another run holds the lock %s: %s", e.Path, e.Holder)
	if e.Waited > 0 {
		return msg + fmt.Sprintf("; gave up after waiting %s", e.Waited)
	}
	return msg
}

// probeGrace is how long Acquire retries a lock found held even when told
// not to wait.
const probeGrace = 100 * time.Millisecond

// Acquire takes the lock on path, creating the file (0600) when missing,
// and writes me into it. When another process holds the lock it returns a
// *HeldError at once (within probeGrace) if wait <= 0; otherwise it keeps
// trying until wait has passed (then a *HeldError) or ctx ends (then ctx's
// error). onWait, when not nil and wait > 0, is called once with the holder
// before waiting starts.
func Acquire(ctx context.Context, path string, me Holder, wait time.Duration, onWait func(Holder)) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	// Even without waiting, a lock found held is tried again for an
	// instant: a Probe (doctor) holds it for microseconds, and must never
	// make a run exit 75.
	limit := max(wait, probeGrace)
	delay := 50 * time.Millisecond
	told := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		waited := time.Since(start)
		if waited >= limit {
			f.Close()
			held := &HeldError{Path: path, Holder: readHolder(path)}
			if wait > 0 {
				held.Waited = wait
			}
			return nil, held
		}
		if !told && onWait != nil && wait > 0 {
			onWait(readHolder(path))
			told = true
		}
		// Polling, not a blocking flock: a blocked flock(2) cannot be
		// cancelled by ctx. A released lock is taken within a second.
		timer := time.NewTimer(min(delay, limit-waited))
		select {
		case <-ctx.Done():
			timer.Stop()
			f.Close()
			return nil, ctx.Err()
		case <-timer.C:
		}
		delay = min(2*delay, time.Second)
	}
	l := &Lock{f: f}
	if err := l.write(me); err != nil {
		l.Release()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return l, nil
}

// write replaces the file's contents with h, in place: the file must stay
// the one that is locked.
func (l *Lock) write(h Holder) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	if _, err := l.f.WriteAt(append(data, '\n'), 0); err != nil {
		return err
	}
	return nil
}

// Release empties the file (so it no longer names a holder) and releases
// the lock. The file stays.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	terr := l.f.Truncate(0)
	// Closing the only descriptor releases the flock.
	cerr := l.f.Close()
	l.f = nil
	return errors.Join(terr, cerr)
}

// Probe tells whether a process holds the lock on path, and who, without
// waiting, without writing anything and without creating the file: a
// missing file is an error that satisfies errors.Is(err, fs.ErrNotExist).
//
// It asks by taking a shared lock and releasing it at once: only an
// exclusive holder conflicts with it, and two probes never do. A run
// starting in that instant finds the lock held; Acquire retries for a
// moment (probeGrace) even when told not to wait, so a probe never makes a
// run exit 75.
func Probe(path string) (held bool, h Holder, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, Holder{}, err
	}
	defer f.Close() // releases the shared lock, if taken
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	switch {
	case err == nil:
		return false, Holder{}, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true, readHolder(path), nil
	}
	return false, Holder{}, fmt.Errorf("probing %s: %w", path, err)
}

// readHolder reads who holds the lock. The holder writes its details just
// after it locked, so an empty file may only mean "not written yet": try a
// few times before giving up.
func readHolder(path string) Holder {
	var h Holder
	for i := 0; i < 5; i++ {
		data, err := os.ReadFile(path)
		if err == nil && len(data) > 0 && json.Unmarshal(data, &h) == nil {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
	return Holder{}
}
