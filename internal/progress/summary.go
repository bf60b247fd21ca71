package progress

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// Tone is how a row's status reads; it picks the status cell's colour.
type Tone int

const (
	Neutral Tone = iota
	Good
	Warn
	Bad
)

func (t Tone) code() string {
	switch t {
	case Good:
		return green
	case Warn:
		return yellow
	case Bad:
		return red
	}
	return ""
}

// Summary is the table shown at the end of a run or drill on a terminal:
// one row per target, then one line for each row with something to say
// (an error, a warning), then the footer (where the report is). It
// replaces the log lines a person would otherwise have to read.
type Summary struct {
	Header []string // column titles: the target's first, the status second
	Rows   []Row
	Footer []string // printed as they are, never cut: they hold paths
}

// Row is one target's line: its cells in Header's order.
type Row struct {
	Cells []string
	Tone  Tone
	Note  string // an error or warning, shown in one line under the table
}

// Render writes the table for a terminal width columns wide. Columns are
// aligned by text/tabwriter; a long target name (or any cell) is
// shortened in the middle, and every line is cut to the width so nothing wraps. Colour,
// when st allows it, goes on after the layout, so escape codes never
// count as width.
func (s Summary) Render(w io.Writer, width int, st Style) error {
	width = max(width-1, 20) // as the status lines: the last column stays empty
	cellMax := max(12, width/3)
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	row := func(cells []string) {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = shorten(oneLine(c), cellMax) // a borg archive's name is long too
		}
		fmt.Fprintln(tw, strings.Join(out, "\t"))
	}
	row(s.Header)
	for _, r := range s.Rows {
		row(r.Cells)
	}
	tw.Flush()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")

	// Where the status column starts, in runes: tabwriter pads the first
	// column alike on every line, and the header's cells are plain ASCII.
	statusAt := -1
	if len(s.Header) > 1 {
		if i := strings.Index(lines[0], s.Header[1]); i > 0 {
			statusAt = utf8.RuneCountInString(lines[0][:i])
		}
	}
	var out strings.Builder
	out.WriteString("\n")
	out.WriteString(st.paint(bold, cut(lines[0], width)) + "\n")
	for i, r := range s.Rows {
		line := []rune(cut(lines[i+1], width))
		if status := []rune(shorten(oneLine(r.Cells[1]), cellMax)); statusAt >= 0 && statusAt+len(status) <= len(line) {
			end := statusAt + len(status)
			out.WriteString(string(line[:statusAt]) + st.paint(r.Tone.code(), string(line[statusAt:end])) + string(line[end:]) + "\n")
		} else {
			out.WriteString(string(line) + "\n")
		}
	}
	for _, r := range s.Rows {
		if r.Note == "" {
			continue
		}
		// Shortened in the middle: an error's cause is at its end
		// ("... connect: connection refused"), its context at the start.
		name := shorten(oneLine(r.Cells[0]), cellMax) + ":"
		room := max(width-utf8.RuneCountInString(name)-1, 1)
		out.WriteString(st.paint(r.Tone.code(), name) + " " + shorten(oneLine(r.Note), room) + "\n")
	}
	for _, f := range s.Footer {
		out.WriteString(oneLine(f) + "\n")
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// oneLine makes s one line of plain text: its lines, each once, joined
// by "; " (by a space after a colon), tabs as spaces, other control characters
// dropped (a tool's error must not move the cursor nor break the table).
func oneLine(s string) string {
	var b strings.Builder
	last := ""
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l == "" || l == last {
			continue // a tool repeating itself (one line per address tried)
		}
		last = l
		switch {
		case b.Len() == 0:
		case strings.HasSuffix(b.String(), ":"): // "failed:" then its reason
			b.WriteString(" ")
		default:
			b.WriteString("; ")
		}
		b.WriteString(l)
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		return printable(r)
	}, b.String())
}

// cut ends s with "…" at width runes.
func cut(s string, width int) string {
	if r := []rune(s); len(r) > width {
		return string(r[:width-1]) + "…"
	}
	return s
}

// shorten keeps both ends of a long name or note, which tell more than
// the middle ("db-prod-…-customers").
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	tail := (n - 1) / 2
	return string(r[:n-1-tail]) + "…" + string(r[len(r)-tail:])
}
