package rclone

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// The record of the mirror's files clears a sync only when it is whole, of
// this source and destination, and few of its files are gone from a
// local source; every other shape of record, hostile ones included,
// leaves the decision to rclone's listing.
func TestFewGoneFromTheRecord(t *testing.T) {
	books := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("books/b%02d.epub", i))
		}
		return out
	}
	// record is a whole record of src → dst naming names, copied and
	// unchanged in turn.
	record := func(src, dst string, names ...string) string {
		var b strings.Builder
		b.WriteString(rcloneRecordHeader + src + "\x00" + dst + "\x00")
		for i, n := range names {
			kind := recordUnchanged
			if i%2 == 0 {
				kind = recordCopied
			}
			fmt.Fprintf(&b, "%c|%s\x00", kind, n)
		}
		fmt.Fprintf(&b, "E|%d\x00", len(names))
		return b.String()
	}
	for _, c := range []struct {
		name    string
		noKeep  bool
		remote  bool                           // the source is a remote
		names   []string                       // the files the record lists (nil: books(10))
		index   func(src, dst string) *string  // the record, nil for none (the func nil: a whole one of names)
		present int                            // how many of books(10) the source holds
		shape   func(t *testing.T, src string) // then done to the source
		percent int                            // max_delete_percent (0: the default, 50)
		want    bool
	}{
		{name: "none gone", present: 10, want: true},
		{name: "half gone, at the limit", present: 5, want: true},
		{name: "six of ten gone", present: 4, want: false},
		{name: "one left, percentage check off", present: 1, percent: 100, want: true},
		{name: "all gone, percentage check off", present: 0, percent: 100, want: false},
		{name: "six replaced by symlinks (rclone copies none)", present: 10, want: false, shape: func(t *testing.T, src string) {
			for _, b := range books(6) {
				os.Remove(filepath.Join(src, b))
				os.Symlink("/etc/hostname", filepath.Join(src, b))
			}
		}},
		{name: "two under a directory now a file (gone)", present: 10, want: true,
			names: append(books(8), "moved/a.epub", "moved/b.epub"),
			shape: func(t *testing.T, src string) { os.WriteFile(filepath.Join(src, "moved"), []byte("x"), 0o644) }},
		{name: "four lookups that fail otherwise (a symlink loop)", present: 10, want: false,
			names: append(books(6), "loop/a.epub", "loop/b.epub", "loop/c.epub", "loop/d.epub"),
			shape: func(t *testing.T, src string) { os.Symlink("loop", filepath.Join(src, "loop")) }},
		{name: "no keep directory", noKeep: true, present: 10, want: false},
		{name: "a remote source", remote: true, present: 10, want: false},
		{name: "no record", index: func(_, _ string) *string { return nil }, present: 10, want: false},
		{name: "an empty record", index: func(src, dst string) *string { return ptr(record(src, dst)) }, present: 10, want: false},
		{name: "not a record", index: func(_, _ string) *string { return ptr("hello\n") }, present: 10, want: false},
		{name: "a record cut short", present: 10, want: false, index: func(src, dst string) *string {
			return ptr(strings.TrimSuffix(record(src, dst, books(10)...), "\x00"))
		}},
		{name: "a record cut short at a file's end", present: 10, want: false, index: func(src, dst string) *string {
			r := record(src, dst, books(10)...)
			return ptr(r[:strings.LastIndex(r, "E|")])
		}},
		{name: "a record with a file less than it counts", present: 10, want: false, index: func(src, dst string) *string {
			return ptr(strings.Replace(record(src, dst, books(10)...), "E|10\x00", "E|11\x00", 1))
		}},
		{name: "a record of another destination", present: 10, want: false, index: func(src, dst string) *string {
			return ptr(record(src, dst+"-other", books(10)...))
		}},
		{name: "a record of another source", present: 10, want: false, index: func(src, dst string) *string {
			return ptr(record(src+"-other", dst, books(10)...))
		}},
		{name: "a path out of the source", present: 10, want: false, index: func(src, dst string) *string {
			return ptr(record(src, dst, append(books(9), "../../etc/passwd")...))
		}},
		{name: "an absolute path", present: 10, want: false, index: func(src, dst string) *string {
			return ptr(record(src, dst, append(books(9), "/etc/passwd")...))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "library")
			if c.remote {
				// A remote rclone names so, and a local directory of
				// that name beside: never looked up.
				src = filepath.Join(dir, "nas:library")
				t.Chdir(dir)
			}
			for _, b := range books(10)[:c.present] {
				p := filepath.Join(src, b)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			os.MkdirAll(src, 0o755)
			if c.shape != nil {
				c.shape(t, src)
			}
			// The record where it is kept; without a KeepDir, it is the
			// TempDir's (the verify's alone): a guard must not read it.
			tg := &drivers.Target{Name: "offsite", Driver: "rclone", Impl: Driver{}, KeepDir: filepath.Join(dir, "keep"), TempDir: filepath.Join(dir, "keep"),
				Settings: drivers.Values{"source": src, "destination": filepath.Join(dir, "mirror")}}
			if c.remote {
				tg.Settings["source"] = "nas:library"
			}
			if c.percent != 0 {
				tg.Settings["max_delete_percent"] = c.percent
			}
			names := c.names
			if names == nil {
				names = books(10)
			}
			index := c.index
			if index == nil {
				index = func(src, dst string) *string { return ptr(record(src, dst, names...)) }
			}
			if r := index(tg.Settings.Str("source"), tg.Settings.Str("destination")); r != nil {
				os.MkdirAll(tg.KeepDir, 0o700)
				if err := os.WriteFile(recordPath(tg), []byte(*r), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if c.noKeep {
				tg.KeepDir = ""
			}
			if got := fewGone(tg); got != c.want {
				t.Errorf("fewGone = %v, want %v", got, c.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
