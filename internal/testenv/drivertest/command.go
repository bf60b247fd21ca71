package drivertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/command"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// CmdFixture is a small library and a directory for a command target's
// backup files; the commands are real (tar, gzip, sh).
type CmdFixture struct {
	Dir, Src, Out string
	X             proc.Executor
}

func NewCmdFixture(t *testing.T) *CmdFixture {
	RequireTool(t, "tar", "gzip", "sh")
	dir := t.TempDir()
	f := &CmdFixture{Dir: dir, Src: filepath.Join(dir, "library"), Out: filepath.Join(dir, "backups"), X: proc.ProcessExecutor{}}
	WriteFile(t, f.Src, "books/dune.epub", strings.Repeat("spice ", 5000), 0o644)
	WriteFile(t, f.Src, "covers/dune.jpg", "not really a jpeg", 0o644)
	return f
}

// target is a valid command target: tar into {output}, unless settings
// say otherwise.
func (f *CmdFixture) Target(t *testing.T, settings drivers.Values) *drivers.Target {
	t.Helper()
	v := drivers.Values{"dir": f.Out, "extension": "tar.gz", "command": []string{"tar", "-czf", "{output}", "-C", f.Src, "."}}
	for k, x := range settings {
		v[k] = x
	}
	tg := &drivers.Target{Name: "app", Driver: "command", Impl: command.Driver{}, Verify: true, Settings: v, TempDir: filepath.Join(f.Dir, "tmp")}
	if err := (command.Driver{}).Validate(tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

// restored extracts a backup file with tar and compares it with the source.
func (f *CmdFixture) CheckArchive(t *testing.T, path string) {
	t.Helper()
	dest := t.TempDir()
	if _, err := f.X.Run(context.Background(), proc.Command{Program: "tar", Args: []string{"-xzf", path, "-C", dest}}); err != nil {
		t.Fatalf("the backup does not extract: %v", err)
	}
	CmdSameFiles(t, f.Src, dest)
}

// CmdSameFiles fails unless b holds a's regular files with the same bytes.
func CmdSameFiles(t *testing.T, a, b string) {
	t.Helper()
	n := 0
	filepath.WalkDir(a, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		want, _ := os.ReadFile(p)
		got, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s differs after the round trip: %v", rel, err)
		}
		n++
		return nil
	})
	if n == 0 {
		t.Fatal("nothing compared")
	}
}
