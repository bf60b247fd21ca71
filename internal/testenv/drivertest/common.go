package drivertest

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
	"github.com/alexandria-backup/alexandria-backup/plan"
)

func Contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ByCommand answers each command by its first argument (restic list
// locks: none), judges the exit code with the command's own Codes, and
// records every argv. For what the real tools cannot be made to do: fail
// to remove the snapshot they just made, or leave out their file count.
type ByCommand struct {
	Answers map[string]proc.Result
	Argv    []string
}

func (b *ByCommand) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	b.Argv = append(b.Argv, c.Program+" "+strings.Join(c.Args, " "))
	var r proc.Result
	if len(c.Args) > 0 {
		r = b.Answers[c.Args[0]]
	}
	r.Command = c.String()
	r.Class = c.Codes.Classify(r.ExitCode)
	if r.Class == proc.ClassError {
		return r, &proc.ToolError{Result: r}
	}
	return r, nil
}

// recorder is an Executor that runs nothing: it records each command line
// and answers with canned output.
type Recorder struct {
	Lines  []string
	Stdout map[string]string // first argument → stdout
}

func (r *Recorder) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	r.Lines = append(r.Lines, c.String())
	out := ""
	if len(c.Args) > 0 {
		out = r.Stdout[c.Args[0]]
	}
	return proc.Result{Command: c.String(), Stdout: []byte(out)}, nil
}

func LoadTargets(t *testing.T, path string) []*drivers.Target {
	t.Helper()
	p, err := plan.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*drivers.Target
	for _, n := range p.Order {
		out = append(out, p.Targets[n])
	}
	return out
}

func PinClock(t *testing.T) {
	old := drivers.Now
	drivers.Now = func() time.Time { return time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC) }
	t.Cleanup(func() { drivers.Now = old })
}

// RequireTool skips a test when a real tool is missing, except under CI,
// where a missing tool is a broken set-up and fails the test.
func RequireTool(t *testing.T, names ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test of the real tools")
	}
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI must have every tool: run scripts/deps.sh)", n)
			}
			t.Skipf("%s is not installed", n)
		}
	}
}

// WriteFile writes content to dir/name, creating parents.
func WriteFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// HasWarning: one of ws contains every part (locks come in id order).
func HasWarning(ws []string, parts ...string) bool {
	for _, w := range ws {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(w, p)
		}
		if all {
			return true
		}
	}
	return false
}

// RbArchiveTree fills dir with a small library whose details a restore must
// bring back: nested directories with their own modes, files with
// different modes and nanosecond mtimes in the past, an empty file, names
// that are glob patterns or look like options, and a relative symlink.
// It returns the regular files' paths relative to dir.
func RbArchiveTree(t *testing.T, dir string) []string {
	t.Helper()
	rng := rand.New(rand.NewSource(7))
	var files []string
	add := func(name string, size int, mode os.FileMode) {
		b := make([]byte, size)
		rng.Read(b)
		WriteFile(t, dir, name, string(b), mode)
		files = append(files, name)
	}
	for i := 0; i < 8; i++ {
		add(filepath.Join("books", "author"+string(rune('a'+i%3)), "book"+string(rune('a'+i))+".epub"), 5000+rng.Intn(60000), 0o644)
	}
	add(filepath.Join("covers", "private.jpg"), 3000, 0o600)
	add(filepath.Join("bin", "convert.sh"), 200, 0o755)
	add(filepath.Join("books", "we[ir]d *?.txt"), 100, 0o644)
	add(filepath.Join("books", "-dash"), 100, 0o644)
	add("empty", 0, 0o644)
	if err := os.Symlink(filepath.Join("books", "-dash"), filepath.Join(dir, "latest")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "covers"), 0o750); err != nil {
		t.Fatal(err)
	}
	// Past mtimes with nanoseconds, children before their directories.
	base := time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink == 0 {
			paths = append(paths, p)
		}
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- {
		mt := base.Add(time.Duration(i)*time.Hour + time.Duration(i)*1111)
		if err := os.Chtimes(paths[i], mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// RbSameTree fails unless got holds exactly what want holds: the same
// entries, types, modes, regular files' bytes and mtimes, directories'
// mtimes and symlinks' targets.
func RbSameTree(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		ws, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gs, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: not restored: %v", rel, err)
			return nil
		}
		if ws.Mode() != gs.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gs.Mode(), ws.Mode())
		}
		switch {
		case ws.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			gb, _ := os.ReadFile(filepath.Join(got, rel))
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: content differs", rel)
			}
			fallthrough
		case ws.IsDir():
			if !ws.ModTime().Equal(gs.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, gs.ModTime(), ws.ModTime())
			}
		case ws.Mode()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(filepath.Join(got, rel))
			if wl != gl {
				t.Errorf("%s: symlink to %q, want %q", rel, gl, wl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(got, p); err == nil && !seen[rel] {
			t.Errorf("%s: restored but not in the source", rel)
		}
		return nil
	})
}

// RbNoDrillLeftovers fails when a drill left its scratch directory behind.
func RbNoDrillLeftovers(t *testing.T, tempDir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(tempDir, "drill-*"))
	if len(left) > 0 {
		t.Errorf("drill left %v behind", left)
	}
}

// RbChangeKeepingStat rewrites one byte of a file keeping its size and mtime,
// as bit rot or a bad backup would look from the outside.
func RbChangeKeepingStat(t *testing.T, path string, off int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	fh.ReadAt(b, off)
	b[0] ^= 0xff
	fh.WriteAt(b, off)
	fh.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Stat(path); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatal("size or mtime changed")
	}
}

// RbFlipInLargest flips a byte in the middle of the largest file under dir
// (a restic pack, a borg segment), keeping its size and mtime.
func RbFlipInLargest(t *testing.T, dir string) string {
	t.Helper()
	var biggest string
	var size int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, _ := d.Info(); fi != nil && fi.Size() > size {
				biggest, size = p, fi.Size()
			}
		}
		return nil
	})
	if size < 10000 {
		t.Fatalf("no data file under %s", dir)
	}
	os.Chmod(biggest, 0o600)
	RbChangeKeepingStat(t, biggest, size/2)
	return biggest
}

// scripted answers every command with one result.
type Scripted struct {
	Res proc.Result
}

func (s Scripted) Run(_ context.Context, c proc.Command) (proc.Result, error) {
	if len(c.Args) > 1 && c.Args[0] == "list" && c.Args[1] == "locks" {
		return proc.Result{Command: c.String()}, nil // no locks
	}
	r := s.Res
	if c.Stdout != nil { // as the real executor: the output goes there
		c.Stdout.Write(r.Stdout)
		r.Stdout = nil
	}
	r.Command = c.String()
	r.Class = c.Codes.Classify(r.ExitCode)
	if r.Class == proc.ClassError {
		return r, &proc.ToolError{Result: r}
	}
	return r, nil
}

// CountingExecutor runs commands for real and counts them, so a test can
// prove a refusal happened before rsync ran.
type CountingExecutor struct {
	mu   sync.Mutex // a driver may run two commands at once
	Runs []string
}

func (c *CountingExecutor) Run(ctx context.Context, cmd proc.Command) (proc.Result, error) {
	c.mu.Lock()
	c.Runs = append(c.Runs, cmd.String())
	c.mu.Unlock()
	return proc.ProcessExecutor{}.Run(ctx, cmd)
}

// RbProveRestore checks a driver's RestoreProver on a tree restored below
// restored (src's files at restored+src): prove must pass as restored,
// then fail, naming the file (as src+"/"+name), for each damage a file in
// place can have: a flipped byte (same size), a truncation, a missing
// file, a file replaced by a symlink, a retargeted symlink. Each damage
// is undone from src before the next.
func RbProveRestore(t *testing.T, src, restored string, files []string, prove func() (drivers.RestoreProof, error)) {
	t.Helper()
	proof, err := prove()
	if err != nil || proof.Checked != len(files) {
		t.Fatalf("the proof of an exact restore: %+v, %v; want %d files checked", proof, err, len(files))
	}
	in := func(name string) string { return filepath.Join(restored, src, name) }
	undo := func(name string) {
		t.Helper()
		os.Remove(in(name))
		if target, err := os.Readlink(filepath.Join(src, name)); err == nil {
			if err := os.Symlink(target, in(name)); err != nil {
				t.Fatal(err)
			}
			return
		}
		data, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(in(name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, file, want string
		damage           func(path string) error
	}{
		{"flipped byte", files[0], "SHA-256", func(p string) error {
			b, err := os.ReadFile(p)
			if err == nil {
				b[len(b)/2] ^= 1
				err = os.WriteFile(p, b, 0o644)
			}
			return err
		}},
		{"truncated", files[1], "bytes", func(p string) error { return os.Truncate(p, 10) }},
		{"missing", files[2], "missing", os.Remove},
		{"symlink instead", files[3], "not a regular file", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink(filepath.Join(src, files[3]), p)
		}},
		{"retargeted symlink", "latest", "points to", func(p string) error {
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("elsewhere", p)
		}},
	} {
		if err := tc.damage(in(tc.file)); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err := prove()
		if err == nil || !strings.Contains(err.Error(), filepath.Join(src, tc.file)) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: the proof said %v; want it to name %s and %q", tc.name, err, filepath.Join(src, tc.file), tc.want)
		}
		undo(tc.file)
	}
	if _, err := prove(); err != nil {
		t.Fatalf("after undoing every damage: %v", err)
	}
}
