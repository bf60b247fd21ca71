package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// screen is what a terminal shows, enough of one to check the display:
// it understands the two control sequences the display writes.
type screen struct {
	lines []string
	row   int // cursor row
}

func (s *screen) Write(p []byte) (int, error) {
	str := string(p)
	for len(str) > 0 {
		switch {
		case strings.HasPrefix(str, clearLine):
			s.set("")
			str = str[len(clearLine):]
		case strings.HasPrefix(str, lineUp):
			s.row--
			str = str[len(lineUp):]
		case str[0] == '\n':
			s.row++
			str = str[1:]
		default:
			r, n := utf8.DecodeRuneInString(str)
			if r == '\x1b' || r == '\r' {
				panic("unexpected control sequence in " + strings.ReplaceAll(str, "\x1b", "ESC"))
			}
			s.set(s.get() + string(r))
			str = str[n:]
		}
	}
	return len(p), nil
}

func (s *screen) get() string {
	if s.row < len(s.lines) {
		return s.lines[s.row]
	}
	return ""
}

func (s *screen) set(v string) {
	for len(s.lines) <= s.row {
		s.lines = append(s.lines, "")
	}
	s.lines[s.row] = v
}

// text is the screen without trailing empty lines.
func (s *screen) text() string {
	return strings.TrimRight(strings.Join(s.lines, "\n"), "\n")
}

func newTestDisplay(width int) (*Display, *screen, *time.Time) {
	scr := &screen{}
	now := time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)
	d := New(scr, func() int { return width })
	d.now = func() time.Time { return now }
	return d, scr, &now
}

func TestDisplayDrawsOneLinePerTargetAndKeepsLogsAbove(t *testing.T) {
	d, scr, now := newTestDisplay(120)
	log := d.Writer()
	d.Phase("library", drivers.PhaseBackup)
	d.Phase("database", drivers.PhaseBackup)
	*now = now.Add(75 * time.Second)
	d.Update("library", proc.Progress{Bytes: 1 << 30, Total: 4 << 30, Percent: 25, Files: 12, Rate: 10 << 20, ETA: 5 * time.Minute, Item: "/srv/library/a.epub"})
	d.mu.Lock()
	d.redraw()
	d.mu.Unlock()
	want := "database  backup  1:15\n" +
		"library   backup  1:15   25%, 1.0 GiB of 4.0 GiB, 12 files, 10 MiB/s, ETA 5:00  /srv/library/a.epub"
	if got := scr.text(); got != want {
		t.Fatalf("screen:\n%s\nwant:\n%s", got, want)
	}

	// A log line goes above the status lines, which are drawn again below it.
	log.Write([]byte("level=WARN msg=\"something\"\n"))
	want = "level=WARN msg=\"something\"\n" + want
	if got := scr.text(); got != want {
		t.Fatalf("after a log line:\n%s\nwant:\n%s", got, want)
	}

	d.Done("database")
	d.Phase("library", drivers.PhaseVerify)
	d.mu.Lock()
	d.redraw()
	d.mu.Unlock()
	want = "level=WARN msg=\"something\"\nlibrary  verify  0:00"
	if got := scr.text(); got != want {
		t.Fatalf("after database finished:\n%s\nwant:\n%s", got, want)
	}

	d.Stop()
	if got := scr.text(); got != "level=WARN msg=\"something\"" {
		t.Fatalf("Stop left status lines behind:\n%s", got)
	}
	// Once stopped, log lines still pass and nothing is drawn again.
	log.Write([]byte("level=INFO msg=\"report written\"\n"))
	if got := scr.text(); got != "level=WARN msg=\"something\"\nlevel=INFO msg=\"report written\"" {
		t.Fatalf("after Stop:\n%s", got)
	}
}

func TestDisplayLinesNeverWrap(t *testing.T) {
	d, scr, _ := newTestDisplay(40)
	d.Phase("a-target-with-a-rather-long-name", drivers.PhaseBackup)
	d.Update("a-target-with-a-rather-long-name", proc.Progress{Bytes: 123456789, Total: 987654321, Percent: 12.5, ETA: time.Hour, Item: "/a/very/long/path/to/some/book.epub"})
	d.mu.Lock()
	d.redraw()
	d.mu.Unlock()
	for _, l := range scr.lines {
		if n := utf8.RuneCountInString(l); n >= 40 {
			t.Errorf("line of %d columns on a 40-column terminal: %q", n, l)
		}
	}
}

func TestFitShortensTheItemFromTheLeftAndDropsControlCharacters(t *testing.T) {
	got := fit("db  backup  0:01", "/srv/books/\x1b[2Jevil\nname.epub", 40)
	if strings.ContainsAny(got, "\x1b\n") {
		t.Fatalf("control characters reached the terminal: %q", got)
	}
	if !strings.HasSuffix(got, "evilname.epub") || !strings.Contains(got, "…") {
		t.Errorf("fit = %q, want the item's end, shortened with …", got)
	}
	if utf8.RuneCountInString(got) > 40 {
		t.Errorf("fit = %q is wider than 40", got)
	}
}

func TestDescribeLeavesOutWhatTheToolDoesNotKnow(t *testing.T) {
	// borg knows neither the total nor an ETA.
	got := Describe(proc.Progress{Bytes: 5 << 20, Files: 3, Percent: -1, ETA: -1})
	if got != "5.0 MiB, 3 files" {
		t.Errorf("borg-like progress = %q", got)
	}
	// borg check: a percentage, no bytes.
	got = Describe(proc.Progress{Percent: 50, ETA: -1})
	if got != " 50%" {
		t.Errorf("borg-check-like progress = %q", got)
	}
	// rsync while it still scans: no percentage, a rate.
	got = Describe(proc.Progress{Bytes: 1024, Rate: 2048, Percent: -1, ETA: -1})
	if got != "1.0 KiB, 2.0 KiB/s" {
		t.Errorf("rsync-like progress = %q", got)
	}
}

func TestStartRedrawsUntilStop(t *testing.T) {
	var buf bytes.Buffer
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	d := New(&syncWriter{&buf, mu}, func() int { return 80 })
	d.Phase("library", drivers.PhaseBackup)
	d.Start()
	time.Sleep(3 * Interval)
	d.Stop()
	<-mu
	out := buf.String()
	mu <- struct{}{}
	if !strings.Contains(out, "library") {
		t.Fatalf("nothing drawn in %v: %q", 3*Interval, out)
	}
	if !strings.HasSuffix(out, clearLine) {
		t.Errorf("Stop did not clear the status line: %q", out)
	}
}

type syncWriter struct {
	b  *bytes.Buffer
	mu chan struct{}
}

func (w *syncWriter) Write(p []byte) (int, error) {
	<-w.mu
	defer func() { w.mu <- struct{}{} }()
	return w.b.Write(p)
}
