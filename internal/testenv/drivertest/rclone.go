package drivertest

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rclone"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// RcloneCmdLog is a real executor that also keeps every command line it ran, as
// shown in logs (Command.String()), and every argv.
type RcloneCmdLog struct {
	mu    sync.Mutex
	Lines []string
	Argv  []string
}

func (l *RcloneCmdLog) Run(ctx context.Context, c proc.Command) (proc.Result, error) {
	l.mu.Lock()
	l.Lines = append(l.Lines, c.String())
	l.Argv = append(l.Argv, c.Program+" "+strings.Join(c.Args, " "))
	l.mu.Unlock()
	return proc.ProcessExecutor{}.Run(ctx, c)
}

type RcloneFixture struct {
	Dir, Src, Dst string
	X             *RcloneCmdLog
}

// NewRcloneFixture makes a small library of random books to mirror.
func NewRcloneFixture(t *testing.T) *RcloneFixture {
	RequireTool(t, "rclone")
	dir := t.TempDir()
	f := &RcloneFixture{Dir: dir, Src: filepath.Join(dir, "library"), Dst: filepath.Join(dir, "mirror"), X: &RcloneCmdLog{}}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ {
		b := make([]byte, 5000+rng.Intn(20000))
		rng.Read(b)
		WriteFile(t, f.Src, filepath.Join("books", "author"+string(rune('a'+i%3)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	// rclone would otherwise look for ~/.config/rclone/rclone.conf.
	t.Setenv("RCLONE_CONFIG", filepath.Join(dir, "no-rclone.conf"))
	return f
}

func (f *RcloneFixture) Target(settings drivers.Values) *drivers.Target {
	v := drivers.Values{"source": f.Src, "destination": f.Dst}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: "offsite", Driver: "rclone", Impl: rclone.Driver{}, Verify: true, Settings: v, TempDir: f.Dir}
}

// RcloneFlipByte changes one byte in the middle of path and puts its mtime back:
// the size and time rclone sync compares stay the same.
func RcloneFlipByte(t *testing.T, path string) {
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
	if _, err := fh.ReadAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := fh.WriteAt(b, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(path)
	if after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
		t.Fatal("rcloneFlipByte changed the size or mtime")
	}
}

// RcloneFiles lists the regular files under dir, relative, sorted.
func RcloneFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}
