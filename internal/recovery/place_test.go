package recovery

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A path below another comes back with it; each lands below root.
func TestPlaces(t *testing.T) {
	got, err := Places([]string{"/srv/lib/covers", "/srv/lib", "/etc/app/", "/srv/lib"}, "/mnt/new")
	if err != nil {
		t.Fatal(err)
	}
	want := []Place{{"/etc/app", "/mnt/new/etc/app"}, {"/srv/lib", "/mnt/new/srv/lib"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Places: %+v, want %+v", got, want)
	}
	if _, err := Places([]string{"srv/lib"}, "/"); err == nil {
		t.Error("a relative backed-up path was accepted")
	}
}

// Every shape of an occupied place is refused, naming it; a missing one
// and an empty directory are free.
func TestCheckFree(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "empty"), 0o755)
	os.MkdirAll(filepath.Join(dir, "full", "sub"), 0o755)
	os.MkdirAll(filepath.Join(dir, "hidden"), 0o755)
	os.WriteFile(filepath.Join(dir, "hidden", ".keep"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	os.Symlink(filepath.Join(dir, "empty"), filepath.Join(dir, "link"))
	for _, free := range []string{"missing", "empty"} {
		if err := CheckFree([]Place{{Dest: filepath.Join(dir, free)}}); err != nil {
			t.Errorf("%s: %v", free, err)
		}
	}
	for _, taken := range []string{"full", "hidden", "file", "link"} {
		p := filepath.Join(dir, taken)
		if err := CheckFree([]Place{{Dest: filepath.Join(dir, "empty")}, {Dest: p}}); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want a refusal naming it", taken, err)
		}
	}
}

// Into a missing place: renamed; into an empty directory (a mount point
// cannot be replaced): its content moved in, the directory taking the
// restored mode; the staging directory sits on the place's filesystem.
func TestMoveIntoPlace(t *testing.T) {
	for _, existing := range []bool{false, true} {
		dir := t.TempDir()
		p := Place{Path: "/srv/lib", Dest: filepath.Join(dir, "srv", "lib")}
		if existing {
			os.MkdirAll(p.Dest, 0o700)
		}
		staging, err := Stage(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Dir(p.Dest); existing && filepath.Dir(staging) != p.Dest || !existing && filepath.Dir(staging) != want {
			t.Fatalf("existing=%v: staging %s", existing, staging)
		}
		restored := filepath.Join(staging, "srv", "lib")
		os.MkdirAll(filepath.Join(restored, "books"), 0o755)
		os.WriteFile(filepath.Join(restored, "books", "a.epub"), []byte("a"), 0o644)
		asRoot := os.Geteuid() == 0
		if asRoot {
			os.Chown(restored, 1234, 2345) // the application's user, not root
		}
		os.Chmod(restored, 0o750|fs.ModeSetgid)
		if err := MoveIntoPlace(staging, p); err != nil {
			t.Fatal(err)
		}
		if err := RemoveStage(staging); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(filepath.Join(p.Dest, "books", "a.epub"))
		st, _ := os.Stat(p.Dest)
		if err != nil || string(data) != "a" || st.Mode().Perm() != 0o750 || st.Mode()&fs.ModeSetgid == 0 {
			t.Errorf("existing=%v: %q %v, mode %v", existing, data, err, st.Mode())
		}
		if sys := st.Sys().(*syscall.Stat_t); asRoot && (sys.Uid != 1234 || sys.Gid != 2345) {
			t.Errorf("existing=%v: owner %d:%d, want the restored 1234:2345", existing, sys.Uid, sys.Gid)
		}
		entries, _ := os.ReadDir(p.Dest)
		if len(entries) != 1 {
			t.Errorf("existing=%v: the place holds %v", existing, entries)
		}
	}
	staging := t.TempDir()
	if err := MoveIntoPlace(staging, Place{Path: "/srv/none", Dest: filepath.Join(t.TempDir(), "none")}); err == nil || !strings.Contains(err.Error(), "/srv/none") {
		t.Errorf("nothing restored: %v", err)
	}
}

// What appears at a place after it was found free (another recover, a
// mount by before_restore) is never replaced by the move: a file or a
// directory at the place itself, or a file inside the mount point the
// restored entries go into. A fresh file system's lost+found alone leaves
// a mount point free.
func TestMoveIntoPlaceNeverReplaces(t *testing.T) {
	restored := func(t *testing.T, p Place) string {
		t.Helper()
		staging, err := Stage(p)
		if err != nil {
			t.Fatal(err)
		}
		lib := filepath.Join(staging, p.Path)
		os.MkdirAll(lib, 0o750)
		os.WriteFile(filepath.Join(lib, "book.epub"), []byte("restored"), 0o640)
		return staging
	}
	for _, c := range []struct {
		name   string
		mount  bool // the place is an (empty) directory when staged
		appear func(dest string)
		kept   string // the file that appeared, which must keep its bytes
	}{
		{"a file at the place", false, func(d string) { os.WriteFile(d, []byte("theirs"), 0o600) }, ""},
		{"a directory at the place", false, func(d string) {
			os.MkdirAll(d, 0o700)
			os.WriteFile(filepath.Join(d, "book.epub"), []byte("theirs"), 0o600)
		}, "book.epub"},
		{"a file in the mount point", true, func(d string) { os.WriteFile(filepath.Join(d, "book.epub"), []byte("theirs"), 0o600) }, "book.epub"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := Place{Path: "/srv/lib", Dest: filepath.Join(t.TempDir(), "srv", "lib")}
			if c.mount {
				os.MkdirAll(p.Dest, 0o755)
			}
			staging := restored(t, p)
			c.appear(p.Dest)
			err := MoveIntoPlace(staging, p)
			if err == nil || !strings.Contains(err.Error(), "never overwrites") {
				t.Fatalf("moved over what appeared: %v", err)
			}
			theirs := p.Dest
			if c.kept != "" {
				theirs = filepath.Join(p.Dest, c.kept)
			}
			if b, _ := os.ReadFile(theirs); string(b) != "theirs" {
				t.Errorf("%s holds %q, want what appeared there", theirs, b)
			}
		})
	}
	mount := filepath.Join(t.TempDir(), "lib")
	os.MkdirAll(filepath.Join(mount, "lost+found"), 0o700)
	if err := CheckFree([]Place{{Path: "/srv/lib", Dest: mount}}); err != nil {
		t.Errorf("a fresh mount point with lost+found: %v", err)
	}
	os.WriteFile(filepath.Join(mount, "x"), nil, 0o600)
	if err := CheckFree([]Place{{Path: "/srv/lib", Dest: mount}}); err == nil {
		t.Error("a mount point with lost+found and a file was taken for free")
	}
}

// A move into a mount point that stops half-way says how far it got: the
// place is no longer empty, and a second recover would be refused.
func TestMoveIntoPlaceSaysWhatMovedBeforeItStopped(t *testing.T) {
	p := Place{Path: "/srv/lib", Dest: filepath.Join(t.TempDir(), "srv", "lib")}
	os.MkdirAll(p.Dest, 0o755)
	staging, err := Stage(p)
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(staging, p.Path)
	os.MkdirAll(lib, 0o750)
	for _, name := range []string{"a.epub", "b.epub", "z.epub"} {
		os.WriteFile(filepath.Join(lib, name), []byte("restored"), 0o640)
	}
	os.WriteFile(filepath.Join(p.Dest, "z.epub"), []byte("theirs"), 0o600) // appeared after the check
	err = MoveIntoPlace(staging, p)
	if err == nil || !strings.Contains(err.Error(), "2 of the 3 restored entries are in "+p.Dest+" already (a.epub, b.epub)") {
		t.Fatalf("got %v, want it to say 2 of 3 entries moved", err)
	}
	if b, _ := os.ReadFile(filepath.Join(p.Dest, "z.epub")); string(b) != "theirs" {
		t.Errorf("z.epub holds %q", b)
	}
}

// A library on a file system of its own was backed up with its
// lost+found; the new file system has one too. The move leaves the new
// one in place instead of failing on it, and brings everything else.
func TestMoveIntoAFreshFileSystem(t *testing.T) {
	p := Place{Path: "/srv/lib", Dest: filepath.Join(t.TempDir(), "srv", "lib")}
	os.MkdirAll(filepath.Join(p.Dest, "lost+found"), 0o700)
	if err := CheckFree([]Place{p}); err != nil {
		t.Fatal(err)
	}
	staging, err := Stage(p)
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(staging, p.Path)
	os.MkdirAll(filepath.Join(lib, "lost+found"), 0o700)
	os.MkdirAll(filepath.Join(lib, "books"), 0o755)
	os.WriteFile(filepath.Join(lib, "books", "a.epub"), []byte("a"), 0o644)
	if err := MoveIntoPlace(staging, p); err != nil {
		t.Fatalf("a fresh file system with its lost+found: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(p.Dest, "books", "a.epub")); err != nil || string(b) != "a" {
		t.Errorf("books/a.epub: %q %v", b, err)
	}
	// One the backup holds something in is not the new file system's to
	// keep: refused, never merged.
	staging, _ = Stage(p)
	lib = filepath.Join(staging, p.Path)
	os.MkdirAll(filepath.Join(lib, "lost+found"), 0o700)
	os.WriteFile(filepath.Join(lib, "lost+found", "#1234"), []byte("x"), 0o600)
	if err := MoveIntoPlace(staging, p); err == nil {
		t.Error("a restored lost+found with something in it was merged into the new one")
	}
}
