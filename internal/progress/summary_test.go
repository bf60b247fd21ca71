package progress

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

func testSummary(name, err string) Summary {
	return Summary{
		Header: []string{"TARGET", "STATUS", "DURATION", "SIZE"},
		Rows: []Row{
			{Cells: []string{"library", "ok", "2.1s", "97 MiB"}, Tone: Good},
			{Cells: []string{name, "failed", "0.3s", "–"}, Tone: Bad, Note: err},
			{Cells: []string{"mirror", "warning", "1m5s", "1.2 GiB"}, Tone: Warn, Note: "retention skipped"},
		},
		Footer: []string{"report: /var/lib/alexandria-backup/reports/daily-20261207T150000.000Z.json"},
	}
}

// The class of hostile shapes: long and short names, multi-line errors
// with tabs and escape codes of their own, narrow and wide terminals.
func TestSummaryFitsTheWidthAndKeepsEachRowOnOneLine(t *testing.T) {
	names := []string{"db", "database", "photos-of-the-family-archive-from-the-old-nas-2009-2019", "ünïcödé-ñame-ñame-ñame-ñame-ñame-ñame-ñame-ñame"}
	errs := []string{
		"exit status 1",
		"pg_dump: error: connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n\tIs the server running on that host and accepting TCP/IP connections?\n",
		"restic said \x1b[31mFatal\x1b[0m:\r\nunable to open repository\n\n\n" + strings.Repeat("x", 500),
	}
	for _, width := range []int{20, 40, 80, 200} {
		for _, name := range names {
			for _, e := range errs {
				var b bytes.Buffer
				if err := testSummary(name, e).Render(&b, width, Style{}); err != nil {
					t.Fatal(err)
				}
				out := b.String()
				if strings.ContainsAny(out, "\x1b\r\t") {
					t.Fatalf("width %d, %q: control characters in the table:\n%q", width, name, out)
				}
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				// A blank line, the header, three rows, two notes, the footer.
				if len(lines) != 8 {
					t.Fatalf("width %d, %q: %d lines, want 8 (an error on one line):\n%s", width, name, len(lines), out)
				}
				for _, l := range lines[:7] {
					if n := utf8.RuneCountInString(l); n > max(width-1, 20) {
						t.Errorf("width %d: a line of %d runes would wrap: %q", width, n, l)
					}
				}
				failedNote := lines[5]
				if !strings.HasPrefix(failedNote, shorten(name, max(12, max(width-1, 20)/3))+": ") {
					t.Errorf("width %d: the failed target's note does not start with its name: %q", width, failedNote)
				}
				if utf8.RuneCountInString(name) > max(12, max(width-1, 20)/3) && !strings.Contains(lines[1+2], "…") {
					t.Errorf("width %d: the long name is not shortened: %q", width, lines[3])
				}
				if lines[7] != testSummary(name, e).Footer[0] {
					t.Errorf("width %d: the footer (a path) was changed: %q", width, lines[7])
				}
			}
		}
	}
}

func TestSummaryColumnsAlign(t *testing.T) {
	var b bytes.Buffer
	testSummary("photos-of-the-family", "exit status 1:\n\tIs the server running?\n\nSee the log.").Render(&b, 100, Style{})
	lines := strings.Split(b.String(), "\n")
	want := []string{
		"",
		"TARGET                STATUS   DURATION  SIZE",
		"library               ok       2.1s      97 MiB",
		"photos-of-the-family  failed   0.3s      –",
		"mirror                warning  1m5s      1.2 GiB",
		"photos-of-the-family: exit status 1: Is the server running?; See the log.",
		"mirror: retention skipped",
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], w)
		}
	}
}

// Colour goes on after the layout: the coloured table, its codes taken
// out, is the plain one; the status cells carry their tone.
func TestSummaryColourDoesNotMoveColumns(t *testing.T) {
	for _, name := range []string{"db", "ünïcödé-ñame", "photos-of-the-family-archive-from-the-old-nas"} {
		var plain, coloured bytes.Buffer
		testSummary(name, "boom").Render(&plain, 80, Style{})
		testSummary(name, "boom").Render(&coloured, 80, Style{Color: true, Cursor: true})
		if got := sgr.ReplaceAllString(coloured.String(), ""); got != plain.String() {
			t.Errorf("%q: colour changed the layout:\n%s\nvs\n%s", name, got, plain.String())
		}
		for _, want := range []string{green + "ok" + reset, red + "failed" + reset, yellow + "warning" + reset, bold + "TARGET"} {
			if !strings.Contains(coloured.String(), want) {
				t.Errorf("%q: no %q in\n%q", name, want, coloured.String())
			}
		}
	}
}

func TestStyleFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want Style
	}{
		{map[string]string{"TERM": "xterm-256color"}, Style{Color: true, Cursor: true}},
		{map[string]string{}, Style{Color: true, Cursor: true}},
		{map[string]string{"TERM": "xterm", "NO_COLOR": "1"}, Style{Cursor: true}},
		{map[string]string{"TERM": "xterm", "NO_COLOR": "0"}, Style{Cursor: true}}, // any non-empty value
		{map[string]string{"TERM": "xterm", "NO_COLOR": ""}, Style{Color: true, Cursor: true}},
		{map[string]string{"TERM": "dumb"}, Style{}},
		{map[string]string{"TERM": "dumb", "NO_COLOR": ""}, Style{}},
	} {
		if got := StyleFrom(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%v: %+v, want %+v", tc.env, got, tc.want)
		}
	}
}

// A long error keeps its start (what was being done) and its end (the
// cause); a line a tool repeated is said once.
func TestSummaryNoteKeepsTheCause(t *testing.T) {
	err := "preflight: connecting to the database: failed to connect to `user=nobody database=none`:\n" +
		"\t127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused\n" +
		"\t127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused\n"
	for _, width := range []int{60, 80, 120} {
		var b bytes.Buffer
		testSummary("database", err).Render(&b, width, Style{})
		note := strings.Split(b.String(), "\n")[5]
		if !strings.HasPrefix(note, "database: preflight: ") || !strings.HasSuffix(note, ": connection refused") {
			t.Errorf("width %d: %q", width, note)
		}
		if strings.Count(note, "refused") != 1 {
			t.Errorf("width %d: the repeated line is there twice: %q", width, note)
		}
	}
	var b bytes.Buffer
	testSummary("database", err).Render(&b, 400, Style{})
	if want := "database: preflight: connecting to the database: failed to connect to `user=nobody database=none`: 127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused"; strings.Split(b.String(), "\n")[5] != want {
		t.Errorf("wide:\n got %q\nwant %q", strings.Split(b.String(), "\n")[5], want)
	}
}

// A long cell other than the name (a borg archive's) is shortened too,
// so the columns after it stay on the screen.
func TestSummaryLongCellKeepsTheColumnsAfterIt(t *testing.T) {
	s := Summary{Header: []string{"TARGET", "STATUS", "DURATION", "RESTORED", "COMPARED"},
		Rows: []Row{{Cells: []string{"library", "ok", "4.2s", "library-2026-12-07T02:00:00.123456-point-20261207T020000Z-" + strings.Repeat("x", 80), "1234"}, Tone: Good}}}
	for _, width := range []int{60, 80, 120} {
		var b bytes.Buffer
		s.Render(&b, width, Style{})
		row := strings.Split(b.String(), "\n")[2]
		if !strings.HasSuffix(row, "  1234") || !strings.Contains(row, "…") || utf8.RuneCountInString(row) >= width {
			t.Errorf("width %d: %q", width, row)
		}
	}
}
