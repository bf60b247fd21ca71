package drivertest

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/drivers/rsync"
)

type RsyncFixture struct {
	Dir, Src, Dst string
	X             *CountingExecutor
}

func NewRsyncFixture(t *testing.T) *RsyncFixture {
	RequireTool(t, "rsync")
	dir := t.TempDir()
	f := &RsyncFixture{Dir: dir, Src: filepath.Join(dir, "library"), Dst: filepath.Join(dir, "mirror"), X: &CountingExecutor{}}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 12; i++ {
		b := make([]byte, 5000+rng.Intn(20000))
		rng.Read(b)
		WriteFile(t, f.Src, filepath.Join("books", "author"+string(rune('a'+i%3)), "book"+string(rune('a'+i))+".epub"), string(b), 0o644)
	}
	WriteFile(t, f.Src, "covers/cover.jpg", "not really a jpeg", 0o600)
	// A hard link and a symlink, which a mirror must keep as such.
	if err := os.Link(filepath.Join(f.Src, "books/authora/booka.epub"), filepath.Join(f.Src, "books/same-book.epub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("authorb/bookb.epub", filepath.Join(f.Src, "books/latest.epub")); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *RsyncFixture) Target(settings drivers.Values) *drivers.Target {
	v := drivers.Values{"source": f.Src + "/", "destination": f.Dst}
	for k, x := range settings {
		v[k] = x
	}
	return &drivers.Target{Name: "mirror", Driver: "rsync", Impl: rsync.Driver{}, Verify: true, Settings: v, TempDir: f.Dir}
}

// NoDrillDirs fails if a drill left its scratch directory behind.
func NoDrillDirs(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "drill-*"))
	if len(left) != 0 {
		t.Errorf("the drill left %v behind", left)
	}
}
