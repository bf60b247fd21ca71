package cli

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// runOnTerminalOf is runOnTerminal on a terminal cols columns wide.
func runOnTerminalOf(t *testing.T, cols int, args ...string) (code int, screen, stdout string) {
	t.Helper()
	master, tty := openPTY(t)
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once the tty side is closed
		got <- b.String()
	}()
	var out bytes.Buffer
	code = Main(append([]string{"alexandria-backup"}, args...), &out, tty)
	tty.Close()
	return code, <-got, out.String()
}

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// tableOf is the summary table at the end of what a terminal received:
// its lines from the header on, colour taken out, up to the footer's
// report line.
func tableOf(t *testing.T, screen, header string) []string {
	t.Helper()
	lines := strings.Split(strings.ReplaceAll(sgr.ReplaceAllString(screen, ""), "\r\n", "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, header) {
			for j := i; j < len(lines); j++ {
				if strings.HasPrefix(lines[j], "report: ") {
					return lines[i : j+1]
				}
			}
		}
	}
	t.Fatalf("no table headed %q on the terminal:\n%s", header, screen)
	return nil
}

const longName = "photos-of-the-family-archive-from-the-old-nas-2009-2019"

// summarySandbox has plan "wide": library (restic, succeeds), database
// and a long-named copy of it (pg_dump to a closed port: fail).
func summarySandbox(t *testing.T, extra ...string) *sandbox {
	requireTool(t, "restic")
	requireTool(t, "pg_dump")
	s := newSandbox(t, strings.Join(extra, "")+`
[targets.`+longName+`]
driver = "pg_dump"
database = "postgres://nobody@127.0.0.1:1/none"
dir = "`+filepath.Join(t.TempDir(), "dumps")+`"

[plans.wide]
targets = ["library", "database", "`+longName+`"]
`)
	if code, _, errOut := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	return s
}

func TestRunEndsWithASummaryTableOnATerminal(t *testing.T) {
	srv := newPingServer(t)
	s := summarySandbox(t, fmt.Sprintf("[notify]\nping_url = %q\n", srv.pingURL()))
	t.Setenv("TERM", "xterm-256color")
	t.Setenv("NO_COLOR", "") // set but empty: colour stays (no-color.org)
	const cols = 72
	code, screen, _ := runOnTerminalOf(t, cols, "run", "wide", "-c", s.plan)
	if code != exitFailed {
		t.Fatalf("exit %d, want %d:\n%s", code, exitFailed, screen)
	}
	table := tableOf(t, screen, "TARGET")
	if !regexp.MustCompile(`^TARGET +STATUS +DURATION +SIZE +VERIFIED +PRUNED$`).MatchString(table[0]) {
		t.Errorf("header: %q", table[0])
	}
	rows := map[string]string{}
	for _, l := range table[1:] {
		rows[strings.Fields(l + " -")[0]] = l
	}
	if l := rows["library"]; !regexp.MustCompile(`^library +ok +[0-9.]+s +[0-9.]+ [KM]?i?B +yes +yes$`).MatchString(l) {
		t.Errorf("library's row: %q", l)
	}
	if l := rows["database"]; !regexp.MustCompile(`^database +failed +[0-9.]+s +– +– +–$`).MatchString(l) {
		t.Errorf("database's row: %q", l)
	}
	// The long name is shortened in the middle; the columns stay aligned.
	short := ""
	for name, l := range rows {
		if strings.HasPrefix(name, "photos-") && strings.Contains(name, "…") && strings.HasSuffix(name, "2019") {
			short = name
			col := func(l string) int { return utf8.RuneCountInString(l[:strings.Index(l, "failed")]) }
			if col(l) != col(rows["database"]) {
				t.Errorf("the columns do not align:\n%s\n%s", rows["database"], l)
			}
		}
	}
	if short == "" {
		t.Errorf("no shortened row for %s:\n%s", longName, strings.Join(table, "\n"))
	}
	// Each failed target's error in one line, under the table, naming it.
	for _, name := range []string{"database", short} {
		note := rows[name+":"]
		if !strings.HasSuffix(note, ": connection refused") || strings.Count(note, "refused") != 1 {
			t.Errorf("%s: no one-line error under the table (%q):\n%s", name, note, strings.Join(table, "\n"))
		}
	}
	for _, l := range table {
		if n := utf8.RuneCountInString(l); n >= cols && !strings.HasPrefix(l, "report: ") {
			t.Errorf("a line of %d runes wraps on %d columns: %q", n, cols, l)
		}
	}
	if !strings.Contains(table[len(table)-2], "run wide: failed in") {
		t.Errorf("no run line above the report's: %q", table[len(table)-2])
	}
	// The table, coloured, replaces the per-target log lines on the
	// terminal; the log the monitor gets still has them.
	pings := srv.take()
	for _, gone := range []string{"target finished", "report written"} {
		if strings.Contains(screen, gone) {
			t.Errorf("%q is still logged on the terminal:\n%s", gone, screen)
		}
		if len(pings) == 0 || !strings.Contains(pings[len(pings)-1].Body, `msg="`+gone+`"`) {
			t.Errorf("%q is missing from the log tail the monitor got: %+v", gone, pings)
		}
	}
	for _, want := range []string{"\x1b[32mok\x1b[0m", "\x1b[31mfailed\x1b[0m"} {
		if !strings.Contains(screen, want) {
			t.Errorf("no %q on the terminal", want)
		}
	}

	// A run that ends with a warning says which, in its table (exit 3
	// with no word said is what the table is for).
	code, screen, _ = runOnTerminalOf(t, cols, "run", "weekly", "--no-verify", "-c", s.plan)
	if code != exitWarnings {
		t.Fatalf("--no-verify: exit %d, want %d:\n%s", code, exitWarnings, screen)
	}
	table = tableOf(t, screen, "TARGET")
	if !regexp.MustCompile(`^library +warning +[0-9.]+s +[0-9.]+ [KM]?i?B +no +no$`).MatchString(table[1]) ||
		table[2] != "library: retention skipped: the new backup was not verified" ||
		!strings.Contains(screen, "\x1b[33mwarning\x1b[0m") {
		t.Errorf("--no-verify: the table does not tell the warning:\n%s", strings.Join(table, "\n"))
	}
}

// NO_COLOR and TERM=dumb: not one escape code, the table still there.
func TestNoColorAndDumbTerminalGetNoEscapeCodes(t *testing.T) {
	s := summarySandbox(t)
	for _, tc := range []struct {
		term, noColor string
		flags         []string
		cursor        bool // the progress display may still redraw in place
	}{
		{"dumb", "", nil, false},
		{"dumb", "1", nil, false},
		{"xterm", "1", []string{"--no-progress"}, false},
		{"xterm", "1", nil, true},
	} {
		t.Setenv("TERM", tc.term)
		t.Setenv("NO_COLOR", tc.noColor)
		args := append([]string{"run", "wide", "-c", s.plan}, tc.flags...)
		code, screen, _ := runOnTerminalOf(t, 100, args...)
		if code != exitFailed {
			t.Fatalf("%v: exit %d:\n%s", tc, code, screen)
		}
		tableOf(t, screen, "TARGET")
		switch {
		case !tc.cursor && strings.Contains(screen, "\x1b"):
			t.Errorf("TERM=%s NO_COLOR=%q %v: an ESC byte reached the terminal:\n%q", tc.term, tc.noColor, tc.flags, screen)
		case sgr.MatchString(screen):
			t.Errorf("TERM=%s NO_COLOR=%q %v: colour reached the terminal:\n%q", tc.term, tc.noColor, tc.flags, screen)
		}
	}

	// TERM=dumb: the drill's table too.
	t.Setenv("TERM", "dumb")
	t.Setenv("NO_COLOR", "")
	code, screen, stdout := runOnTerminalOf(t, 100, "drill", "library", "-c", s.plan)
	if code != 0 {
		t.Fatalf("drill: exit %d:\n%s", code, screen)
	}
	table := tableOf(t, screen, "TARGET")
	if !regexp.MustCompile(`^TARGET +STATUS +DURATION +RESTORED +COMPARED$`).MatchString(table[0]) ||
		!regexp.MustCompile(`^library +ok +[0-9.]+s +[0-9a-f]{8} +[1-9][0-9]*$`).MatchString(table[1]) ||
		!regexp.MustCompile(`^library: [1-9][0-9]* sampled files restored: `).MatchString(table[2]) ||
		!strings.HasPrefix(table[3], "drill: ok in ") {
		t.Errorf("drill table:\n%s", strings.Join(table, "\n"))
	}
	if strings.Contains(screen, "\x1b") {
		t.Errorf("TERM=dumb: an ESC byte reached the terminal:\n%q", screen)
	}
	// stdout is no terminal here: its lines are kept for whoever reads it.
	if !strings.Contains(stdout, "library: drill passed: ") {
		t.Errorf("drill's stdout lost its lines: %q", stdout)
	}
}

// Off a terminal (cron, systemd, a pipe) nothing changes: no table, the
// same log lines as before.
func TestNoSummaryTableOffATerminal(t *testing.T) {
	s := summarySandbox(t)
	t.Setenv("TERM", "xterm")
	t.Setenv("NO_COLOR", "")
	code, stdout, stderr := runCLI(t, "run", "wide", "-c", s.plan)
	if code != exitFailed || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	if strings.Contains(stderr, "TARGET") || strings.Contains(stderr, "report: ") || strings.Contains(stderr, "\x1b") {
		t.Errorf("a table or escape codes off a terminal:\n%s", stderr)
	}
	if strings.Contains(stderr, "level=INFO") {
		t.Errorf("off a terminal only warnings and errors are logged:\n%s", stderr)
	}
	_, _, stderr = runCLI(t, "run", "wide", "--log-level", "info", "-c", s.plan)
	for _, want := range []string{`msg="target finished" target=library status=ok`, `msg="report written"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("--log-level info off a terminal lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "TARGET") {
		t.Errorf("a table off a terminal:\n%s", stderr)
	}
}
