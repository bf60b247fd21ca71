package drivers_test

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/borg"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/drivers/restic"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/drivertest"
)

// progressRecorder is a Trace that keeps every progress report and command.
type progressRecorder struct {
	mu       sync.Mutex
	updates  []proc.Progress
	commands []string
}

func (r *progressRecorder) trace(ctx context.Context) context.Context {
	return proc.WithTrace(ctx, &proc.Trace{
		Started: func(cmdline string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.commands = append(r.commands, cmdline)
		},
		Progress: func(p proc.Progress) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.updates = append(r.updates, p)
		},
	})
}

// addBigFile puts a file of size random bytes into dir, so that a tool
// has something to report progress on.
func addBigFile(t *testing.T, dir string, size int) {
	t.Helper()
	b := make([]byte, size)
	rand.New(rand.NewSource(7)).Read(b)
	drivertest.WriteFile(t, dir, "big/collected-works.pdf", string(b), 0o644)
}

const bigFile = 24 << 20

// checkProgress checks what a real tool reported while backing up a
// source holding bigFile: reports came, their bytes never went backwards,
// a known total was never exceeded, and (for a tool that reports its
// end, final) the last covered the big file.
func checkProgress(t *testing.T, r *progressRecorder, final bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		t.Fatalf("no progress reported; commands: %s", strings.Join(r.commands, "\n"))
	}
	var prev int64
	for i, p := range r.updates {
		if p.Bytes < prev {
			t.Errorf("update %d went back from %d to %d bytes", i, prev, p.Bytes)
		}
		if p.Total > 0 && p.Bytes > p.Total {
			t.Errorf("update %d: %d bytes of a total of %d", i, p.Bytes, p.Total)
		}
		if p.Percent > 100 {
			t.Errorf("update %d: %.1f%%", i, p.Percent)
		}
		prev = p.Bytes
	}
	if last := r.updates[len(r.updates)-1]; final && last.Bytes < bigFile {
		t.Errorf("the last report says %d bytes, but the source holds a file of %d: %+v", last.Bytes, bigFile, last)
	}
}

func TestResticReportsProgressWhenWatched(t *testing.T) {
	f := drivertest.NewResticFixture(t)
	addBigFile(t, f.Src, bigFile)
	ctx := context.Background()
	tg := f.Target("library", nil)
	if err := (restic.Driver{}).Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	tg.Progress = true
	rec := &progressRecorder{}
	a, err := restic.Driver{}.Backup(rec.trace(ctx), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	// The summary is still found among 60 status lines a second.
	if a.ID == "" || a.Bytes < bigFile {
		t.Fatalf("artifact %+v", a)
	}
	// restic's last status line comes a moment before its end.
	checkProgress(t, rec, false)
	if last := rec.updates[len(rec.updates)-1]; last.Total < bigFile {
		t.Errorf("restic knows its total; the last report says %+v", last)
	}
}

func TestRsyncReportsProgressWhenWatched(t *testing.T) {
	f := drivertest.NewRsyncFixture(t)
	addBigFile(t, f.Src, bigFile)
	ctx := context.Background()
	tg := f.Target(drivers.Values{"delete": true})
	tg.Progress = true
	rec := &progressRecorder{}
	a, err := rsync.Driver{}.Backup(rec.trace(ctx), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	// --stats is still read from among the progress lines.
	if a.Bytes < bigFile {
		t.Fatalf("artifact %+v", a)
	}
	checkProgress(t, rec, true)
	if err := (rsync.Driver{}).Verify(ctx, f.X, tg, a); err != nil {
		t.Fatalf("the mirror made with progress does not verify: %v", err)
	}
}

func TestBorgReportsProgressWhenWatched(t *testing.T) {
	f := drivertest.NewBorgFixture(t)
	addBigFile(t, f.Src, bigFile)
	ctx := context.Background()
	tg := f.Target("library", drivers.Values{"encryption": "repokey-blake2"})
	if err := (borg.Driver{}).Init(ctx, f.X, tg); err != nil {
		t.Fatal(err)
	}
	tg.Progress = true
	rec := &progressRecorder{}
	a, err := borg.Driver{}.Backup(rec.trace(ctx), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" {
		t.Fatalf("artifact %+v", a)
	}
	// borg reports as it starts and every so often while it reads, but
	// not its end: a fast backup may show only the start.
	checkProgress(t, rec, false)
	if rec.updates[0].Item == "" {
		t.Errorf("borg's first report names no path: %+v", rec.updates[0])
	}
	// borg check reports its progress too (a percentage of segments).
	rec = &progressRecorder{}
	if err := (borg.Driver{}).Verify(rec.trace(ctx), f.X, tg, a); err != nil {
		t.Fatal(err)
	}
	if len(rec.updates) == 0 || !strings.HasPrefix(rec.updates[0].Item, "Checking") || rec.updates[0].Percent < 0 {
		t.Errorf("borg check's progress: %+v", rec.updates)
	}

	// With --log-json, borg's errors come as JSON; they must still read
	// as borg's words, not as JSON, in the error.
	missing := f.Target("library", drivers.Values{"repository": filepath.Join(f.Dir, "no-such-repo")})
	missing.Progress = true
	_, err = borg.Driver{}.Backup(ctx, f.X, missing)
	if err == nil {
		t.Fatal("a backup into a missing repository succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, `"type"`) || !strings.Contains(msg, "does not exist") {
		t.Errorf("error = %q, want borg's plain message", msg)
	}
}

func TestRcloneReportsProgressWhenWatched(t *testing.T) {
	f := drivertest.NewRcloneFixture(t)
	addBigFile(t, f.Src, bigFile)
	ctx := context.Background()
	tg := f.Target(nil)
	tg.Progress = true
	rec := &progressRecorder{}
	a, err := rclone.Driver{}.Backup(rec.trace(ctx), f.X, tg)
	if err != nil {
		t.Fatal(err)
	}
	checkProgress(t, rec, true)
	if err := (rclone.Driver{}).Verify(ctx, f.X, tg, a); err != nil {
		t.Fatal(err)
	}

	// rclone's JSON log lines turn back into text in errors.
	blocked := filepath.Join(f.Dir, "a-file")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := f.Target(drivers.Values{"destination": filepath.Join(blocked, "mirror")})
	bad.Progress = true
	_, err = rclone.Driver{}.Backup(ctx, f.X, bad)
	if err == nil {
		t.Fatal("a copy under a regular file succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, `"level"`) || !strings.Contains(msg, "ERROR: ") {
		t.Errorf("error = %q, want rclone's messages as text", msg)
	}
}
