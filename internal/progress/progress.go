// Package progress draws what running targets are doing at the bottom of
// a terminal: one line per target, redrawn a few times a second from the
// tools' own machine-readable progress, with log lines kept above it.
// It is only ever used on a terminal; under cron, systemd or a CronJob
// nothing here runs.
package progress

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/humanize"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Interval is how often the display is redrawn.
const Interval = 200 * time.Millisecond

// Terminal control: move to the start of the line and clear it; move up.
const (
	clearLine = "\r\x1b[K"
	lineUp    = "\x1b[1A"
)

// Display is the status area. It implements plan.ProgressView.
type Display struct {
	mu      sync.Mutex
	out     io.Writer
	width   func() int
	now     func() time.Time
	running map[string]*target
	drawn   int  // status lines on screen, the cursor at the end of the last
	ended   bool // Stop was called: log lines still pass, nothing is drawn
	stop    chan struct{}
	stopped chan struct{}
}

type target struct {
	phase      drivers.Phase
	since      time.Time // when the phase began
	progress   proc.Progress
	hasUpdates bool // progress holds a report of the current phase
}

// New returns a display writing to out (a terminal) whose width in
// columns width tells; Start begins the redraws.
func New(out io.Writer, width func() int) *Display {
	return &Display{out: out, width: width, now: time.Now, running: map[string]*target{}}
}

// Start redraws every Interval until Stop.
func (d *Display) Start() {
	d.stop, d.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(d.stopped)
		tick := time.NewTicker(Interval)
		defer tick.Stop()
		for {
			select {
			case <-d.stop:
				return
			case <-tick.C:
				d.mu.Lock()
				d.redraw()
				d.mu.Unlock()
			}
		}
	}()
}

// Stop ends the redraws and clears the status lines.
func (d *Display) Stop() {
	if d.stop != nil {
		close(d.stop)
		<-d.stopped
		d.stop = nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	d.ended = true
}

// Phase implements plan.ProgressView.
func (d *Display) Phase(name string, phase drivers.Phase) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.running[name] = &target{phase: phase, since: d.now()}
}

// Update implements plan.ProgressView.
func (d *Display) Update(name string, p proc.Progress) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.running[name]
	if t == nil {
		t = &target{phase: drivers.PhaseBackup, since: d.now()}
		d.running[name] = t
	}
	t.progress, t.hasUpdates = p, true
}

// Done implements plan.ProgressView.
func (d *Display) Done(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.running, name)
}

// Writer is where log lines go while the display runs: each write
// clears the status lines, goes above them, and they are drawn again.
func (d *Display) Writer() io.Writer { return logWriter{d} }

type logWriter struct{ d *Display }

func (w logWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	w.d.clear()
	n, err := w.d.out.Write(p)
	w.d.redraw()
	return n, err
}

// clear removes the status lines, leaving the cursor where the first was.
func (d *Display) clear() {
	if d.drawn == 0 {
		return
	}
	s := clearLine + strings.Repeat(lineUp+clearLine, d.drawn-1)
	io.WriteString(d.out, s)
	d.drawn = 0
}

// redraw replaces the status lines with the current ones.
func (d *Display) redraw() {
	if d.ended {
		return
	}
	lines := d.lines()
	d.clear()
	if len(lines) == 0 {
		return
	}
	io.WriteString(d.out, strings.Join(lines, "\n"))
	d.drawn = len(lines)
}

// lines renders one line per running target, in name order, each cut to
// the terminal's width so nothing wraps (a wrapped line would break the
// count of lines to clear).
func (d *Display) lines() []string {
	names := make([]string, 0, len(d.running))
	pad := 0
	for n := range d.running {
		names = append(names, n)
		pad = max(pad, utf8.RuneCountInString(n))
	}
	sort.Strings(names)
	width := d.width() - 1
	if width < 20 {
		width = 20
	}
	out := make([]string, 0, len(names))
	now := d.now()
	for _, n := range names {
		t := d.running[n]
		line := fmt.Sprintf("%-*s  %-7s %s", pad, n, t.phase, clock(now.Sub(t.since)))
		if t.hasUpdates {
			line += "  " + Describe(t.progress)
		}
		out = append(out, fit(line, t.progress.Item, width))
	}
	return out
}

// Describe is one progress report in words: "45%  1.2 GiB of 2.7 GiB,
// 120 files, 35.0 MiB/s, ETA 0:42". The current item is not included.
func Describe(p proc.Progress) string {
	var parts []string
	if p.Percent >= 0 && (p.Total > 0 || p.Percent > 0) {
		parts = append(parts, fmt.Sprintf("%3.0f%%", p.Percent))
	}
	if p.Bytes > 0 || p.Total > 0 || p.Percent < 0 {
		size := humanize.Bytes(p.Bytes)
		if p.Total > 0 {
			size += " of " + humanize.Bytes(p.Total)
		}
		parts = append(parts, size)
	}
	if p.Files > 0 {
		parts = append(parts, fmt.Sprintf("%d files", p.Files))
	}
	if p.Rate > 0 {
		parts = append(parts, humanize.Bytes(int64(p.Rate))+"/s")
	}
	if p.ETA >= 0 && p.Percent >= 0 && p.Percent < 100 {
		parts = append(parts, "ETA "+clock(p.ETA))
	}
	return strings.Join(parts, ", ")
}

// clock is a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// fit adds the item being worked on after line if there is room,
// shortened from the left (the file name is the informative end), and
// cuts the result to width runes.
func fit(line, item string, width int) string {
	line = strings.Map(printable, line)
	item = strings.Map(printable, item)
	if n := utf8.RuneCountInString(line); item != "" && n+3 < width {
		room := width - n - 2
		if r := []rune(item); len(r) > room {
			item = "…" + string(r[len(r)-room+1:])
		}
		line += "  " + item
	}
	if r := []rune(line); len(r) > width {
		line = string(r[:width])
	}
	return line
}

// printable drops control characters: a file name must not move the
// cursor.
func printable(r rune) rune {
	if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
		return -1
	}
	return r
}
