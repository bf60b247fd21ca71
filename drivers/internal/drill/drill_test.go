package drill

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

func TestDrillFilesSample(t *testing.T) {
	var files []File
	for _, n := range []string{"/e", "/d", "/c", "/b", "/a"} {
		files = append(files, File{Source: n})
	}
	all := Sample(files, 20)
	if got := Sources(all); strings.Join(got, "") != "/a/b/c/d/e" {
		t.Fatalf("a sample larger than the files: %v, want all, sorted", got)
	}
	// Samples of 2 are distinct files of the input, and over many drills
	// every file gets its turn (a fixed pick would never reach some).
	seen := map[string]int{}
	for i := 0; i < 200; i++ {
		s := Sample(files, 2)
		if len(s) != 2 || s[0].Source == s[1].Source || s[0].Source > s[1].Source {
			t.Fatalf("sample %v", Sources(s))
		}
		for _, f := range s {
			seen[f.Source]++
		}
	}
	if len(seen) != 5 {
		t.Fatalf("200 samples of 2 from 5 files covered only %v", seen)
	}
	if SampleSize(&drivers.Target{}) != 20 || SampleSize(&drivers.Target{DrillSample: 3}) != 3 {
		t.Fatal("drillSampleSize")
	}
}

func TestDrillFilesUnderDir(t *testing.T) {
	for _, tc := range []struct{ recorded, want string }{
		{"/srv/alexandria/library/a.epub", "/r/srv/alexandria/library/a.epub"},
		{"srv/a", "/r/srv/a"},
		{"//srv/./a", "/r/srv/a"},
		{"/../etc/passwd", ""},
		{"srv/../../etc", ""},
		{"..", ""},
		{"/", ""},
		{"", ""},
	} {
		got, err := underDir("/r", tc.recorded)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("underDir(%q) = %q, %v; want %q", tc.recorded, got, err, tc.want)
		}
	}
}

func TestDrillFilesPrepareRestoreDir(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.Mkdir(outside, 0o755)
	mk := func(name string, setup func(dir string)) string {
		dir := filepath.Join(base, name)
		if setup != nil {
			os.MkdirAll(dir, 0o755)
			setup(dir)
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		dir   string
		force bool
		want  string // part of the error, "" for none
	}{
		{"relative", "restore/here", false, "absolute"},
		{"missing is created", mk("missing", nil), false, ""},
		{"empty", mk("empty", func(string) {}), false, ""},
		{"not a directory", filepath.Join(mk("file", func(d string) { os.WriteFile(filepath.Join(d, "f"), nil, 0o644) }), "f"), true, "not a directory"},
		{"non-empty", mk("full", func(d string) { os.WriteFile(filepath.Join(d, "f"), nil, 0o644) }), false, "--force"},
		{"non-empty, forced", mk("full2", func(d string) { os.WriteFile(filepath.Join(d, "f"), nil, 0o644) }), true, ""},
		{"forced, symlink inside", mk("inner", func(d string) {
			os.MkdirAll(filepath.Join(d, "a/b"), 0o755)
			os.Symlink("a/b", filepath.Join(d, "link"))
		}), true, ""},
		{"forced, symlink leading outside", mk("escape", func(d string) {
			os.MkdirAll(filepath.Join(d, "srv"), 0o755)
			os.Symlink(outside, filepath.Join(d, "srv/library"))
		}), true, "srv/library"},
		{"forced, relative symlink leading outside", mk("escape2", func(d string) {
			os.Symlink("../outside", filepath.Join(d, "up"))
		}), true, "leads outside"},
		{"forced, dangling symlink", mk("dangling", func(d string) {
			os.Symlink(filepath.Join(outside, "nothing", "here"), filepath.Join(d, "x"))
		}), true, "nowhere"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := PrepareRestoreDir(tc.dir, tc.force)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if fi, err := os.Stat(tc.dir); err != nil || !fi.IsDir() {
					t.Fatalf("no directory: %v", err)
				} else if tc.name == "missing is created" && fi.Mode().Perm() != 0o700 {
					t.Fatalf("created %v, want 0700", fi.Mode())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// drillFilesCase builds a source file and its restored copy.
type drillFilesCase struct {
	name     string
	restored string // content of the restored copy; "-" for none
	mutate   func(t *testing.T, src, restoredPath string, f *File)
	check    Check
	want     string // part of the error; "" for none
	detail   string // part of the detail when there is no error
}

func TestDrillFilesCompare(t *testing.T) {
	const content = "the content of a book"
	sum := sha256.Sum256([]byte(content))
	good := hex.EncodeToString(sum[:])
	touch := func(t *testing.T, p string) {
		later := time.Now().Add(time.Hour)
		os.Chtimes(p, later, later)
	}
	for _, tc := range []drillFilesCase{
		{name: "match", restored: content, detail: "1 sampled files restored: 1 match their source"},
		{name: "differs, size and mtime unchanged", restored: "the content of a b00k", want: "differs from its source at byte 18"},
		{name: "source changed since the backup", restored: "the content of a b00k", check: Check{ToolVerified: "x --verify"},
			mutate: func(t *testing.T, src, _ string, _ *File) { touch(t, src) }, detail: "1 changed since the backup (not compared with it); all verified by x --verify"},
		{name: "source gone", restored: content, check: Check{ToolVerified: "x --verify"},
			mutate: func(t *testing.T, src, _ string, _ *File) { os.Remove(src) }, detail: "1 changed since the backup"},
		{name: "nothing could be checked", restored: content,
			mutate: func(t *testing.T, src, _ string, _ *File) { touch(t, src) }, want: "none of the 1 sampled files could be checked"},
		{name: "changed source, checksum matches", restored: content,
			mutate: func(t *testing.T, src, _ string, f *File) { touch(t, src); f.SumAlgo, f.Sum = "sha256", good },
			detail: "1 changed since the backup (not compared with it); 1 match tool's sha256"},
		{name: "checksum differs though the source changed", restored: "the content of a b00k",
			mutate: func(t *testing.T, src, _ string, f *File) { touch(t, src); f.SumAlgo, f.Sum = "sha256", good },
			want:   "the backup recorded " + good},
		{name: "source and checksum match", restored: content,
			mutate: func(t *testing.T, _, _ string, f *File) { f.SumAlgo, f.Sum = "sha256", strings.ToUpper(good) },
			detail: "1 match their source; 1 match tool's sha256"},
		{name: "unknown checksum", restored: content,
			mutate: func(t *testing.T, _, _ string, f *File) { f.SumAlgo, f.Sum = "crc9", "00" }, want: "unknown checksum algorithm"},
		{name: "not restored", restored: "-", want: "was not restored"},
		{name: "restored short", restored: "the content", want: "restored with 11 bytes; the backup recorded 21"},
		{name: "restored as a symlink to the source", restored: "-",
			mutate: func(t *testing.T, src, rp string, _ *File) { os.Symlink(src, rp) }, want: "not a regular file"},
		{name: "restored path escapes", restored: content,
			mutate: func(t *testing.T, _, _ string, f *File) { f.Restored = "../../etc/passwd" }, want: "outside the drill directory"},
		{name: "mtime within the tool's precision", restored: content, check: Check{MTimePrecision: time.Second},
			mutate: func(t *testing.T, _, _ string, f *File) { f.ModTime = f.ModTime.Add(-999 * time.Millisecond) },
			detail: "1 match their source"},
		{name: "mtime beyond the tool's precision", restored: content, check: Check{MTimePrecision: time.Second, ToolVerified: "v"},
			mutate: func(t *testing.T, _, _ string, f *File) { f.ModTime = f.ModTime.Add(-time.Second) },
			detail: "1 changed since the backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			src := filepath.Join(base, "srv", "lib", "a.epub")
			os.MkdirAll(filepath.Dir(src), 0o755)
			os.WriteFile(src, []byte(content), 0o644)
			mt := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
			os.Chtimes(src, mt, mt)
			dir := filepath.Join(base, "drill")
			restoredPath, _ := underDir(dir, src)
			os.MkdirAll(filepath.Dir(restoredPath), 0o700)
			if tc.restored != "-" {
				os.WriteFile(restoredPath, []byte(tc.restored), 0o600)
			}
			f := File{Source: src, Restored: src, Size: int64(len(content)), ModTime: mt}
			if tc.mutate != nil {
				tc.mutate(t, src, restoredPath, &f)
			}
			tc.check.Tool = "tool"
			out, err := Compare(dir, []File{f}, tc.check)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.want)
				}
				var m *Mismatch
				if errors.As(err, &m) && (m.File != src || len(m.Sampled) != 1) {
					t.Fatalf("mismatch %+v does not name the file and the sample", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := out.Result("snap")
			if r.Artifact != "snap" || r.Checked != 1 || !strings.Contains(r.Detail, tc.detail) {
				t.Fatalf("result %+v, want detail with %q", r, tc.detail)
			}
		})
	}
}

func TestDrillFilesEmptySample(t *testing.T) {
	if _, err := Compare(t.TempDir(), nil, Check{Tool: "x", ToolVerified: "v"}); err == nil {
		t.Fatal("an empty sample passed")
	}
}

func TestDrillFilesMismatchListsSample(t *testing.T) {
	var sampled []string
	for i := 0; i < 30; i++ {
		sampled = append(sampled, "/f"+string(rune('a'+i%26)))
	}
	msg := (&Mismatch{Tool: "borg", File: "/fa", Reason: "was not restored", Sampled: sampled}).Error()
	if !strings.HasPrefix(msg, "borg drill: /fa was not restored (sampled 30: /fa, /fb") || !strings.HasSuffix(msg, ", and 5 more)") {
		t.Fatalf("message %q", msg)
	}
}

func TestDrillFilesArgBatches(t *testing.T) {
	long := strings.Repeat("x", 100<<10)
	for _, tc := range []struct {
		args []string
		want []int // batch sizes
	}{
		{nil, nil},
		{[]string{"a", "b"}, []int{2}},
		{[]string{long, long, long, "a"}, []int{2, 2}},
		{[]string{long, long, long, long, long}, []int{2, 2, 1}},
	} {
		var got []int
		n := 0
		for _, b := range ArgBatches(tc.args) {
			got = append(got, len(b))
			n += len(b)
		}
		if len(got) != len(tc.want) || n != len(tc.args) {
			t.Errorf("batches %v, want %v", got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("batches %v, want %v", got, tc.want)
			}
		}
	}
}

// A restore can leave read-only directories; the scratch directory still
// goes.
func TestDrillFilesTempDirRemoved(t *testing.T) {
	tg := &drivers.Target{Name: "lib", TempDir: t.TempDir()}
	dir, cleanup, err := TempDir(tg)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 || filepath.Dir(dir) != tg.TempDir {
		t.Fatalf("scratch dir %s %v", dir, fi.Mode())
	}
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("x"), 0o400)
	os.Chmod(filepath.Join(dir, "a", "b"), 0o500)
	os.Chmod(filepath.Join(dir, "a"), 0o500)
	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("scratch dir still there: %v", err)
	}
}

func TestDrillFilesCountRestored(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a/b/f"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "g"), nil, 0o644)
	os.Symlink("/etc", filepath.Join(dir, "link")) // not followed
	if n, err := CountRestored(dir); n != 2 || err != nil {
		t.Fatalf("count %d %v", n, err)
	}
}
