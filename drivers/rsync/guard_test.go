package rsync

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers"
)

// The index of the mirror's files clears a run only when it is whole and
// few of its files are gone from the source; every other shape of index,
// hostile ones included, leaves the decision to rsync's dry run.
func TestFewGoneFromTheIndex(t *testing.T) {
	record := func(names ...string) string {
		var b strings.Builder
		b.WriteString(sentLedgerHeader + "1\n")
		for i, n := range names {
			kind := ledgerUnchanged
			if i%2 == 0 {
				kind = ledgerSent
			}
			fmt.Fprintf(&b, "%c|%s\x00", kind, n)
		}
		return b.String()
	}
	books := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("books/b%02d.epub", i))
		}
		return out
	}
	for _, c := range []struct {
		name    string
		noKeep  bool
		index   *string // nil: none
		present int     // how many of books(10) the source holds
		percent int     // max_delete_percent (0: the default, 50)
		want    bool
	}{
		{name: "none gone", index: ptr(record(books(10)...)), present: 10, want: true},
		{name: "half gone, at the limit", index: ptr(record(books(10)...)), present: 5, want: true},
		{name: "six of ten gone", index: ptr(record(books(10)...)), present: 4, want: false},
		{name: "one left, percentage check off", index: ptr(record(books(10)...)), present: 1, percent: 100, want: true},
		{name: "all gone, percentage check off", index: ptr(record(books(10)...)), present: 0, percent: 100, want: false},
		{name: "no keep directory", noKeep: true, index: ptr(record(books(10)...)), present: 10, want: false},
		{name: "no index", present: 10, want: false},
		{name: "an empty index", index: ptr(record()), present: 10, want: false},
		{name: "not an index", index: ptr("hello\n"), present: 10, want: false},
		{name: "a record cut short", index: ptr(strings.TrimSuffix(record(books(10)...), "\x00")), present: 10, want: false},
		{name: "a path out of the source", index: ptr(record(append(books(9), "../../etc/passwd")...)), present: 10, want: false},
		{name: "an absolute path", index: ptr(record(append(books(9), "/etc/passwd")...)), present: 10, want: false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "library")
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
			tg := &drivers.Target{Name: "mirror", Driver: "rsync", Impl: Driver{}, KeepDir: filepath.Join(dir, "keep"),
				Settings: drivers.Values{"source": src + "/", "destination": filepath.Join(dir, "mirror"), "delete": true}}
			if c.percent != 0 {
				tg.Settings["max_delete_percent"] = c.percent
			}
			if c.index != nil {
				os.MkdirAll(tg.KeepDir, 0o700)
				if err := os.WriteFile(recordPath(tg), []byte(*c.index), 0o600); err != nil {
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
