package plan

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// LogDir is where per-target logs live under a state directory: one
// directory per target, one file per run or drill of it.
func LogDir(stateDir string) string { return filepath.Join(stateDir, "logs") }

// LogName is the file name of a target's log for a report: the report's
// own name, so a target's log and its run's report pair up by name.
func LogName(command, plan string, startedAt time.Time) string {
	name := fmt.Sprintf("%s-%s.log", plan, startedAt.Format("20060102T150405.000Z"))
	if command == "drill" {
		name = "drill-" + name
	}
	return name
}

// outputLines is how many lines of a tool's stderr a target log keeps
// after each command: what an operator reads first when it failed.
const outputLines = 20

// targetLog is one target's log file for one run: everything logged about
// the target (at every level, whatever --log-level says for stderr), each
// command line as it starts (secrets masked, as everywhere), and how it
// ended with the last lines it printed on stderr. Nothing is written to
// it but masked command lines, our own messages and tool output, so it
// holds no secret the report does not.
type targetLog struct {
	path string
	mu   sync.Mutex // orders raw output lines with log records
	f    *os.File
	file *slog.Logger // this file only
}

// openTargetLog creates dir/target/name, private to the owner.
func openTargetLog(dir, target, name string) (*targetLog, error) {
	d := filepath.Join(dir, target)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(d, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	l := &targetLog{path: path, f: f}
	l.file = slog.New(slog.NewTextHandler(lockedWriter{l}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return l, nil
}

// lockedWriter serialises the handler's writes with the raw output lines.
type lockedWriter struct{ l *targetLog }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.l.f.Write(p)
}

// logger returns base extended so that every record also lands in the file.
func (l *targetLog) logger(base *slog.Logger) *slog.Logger {
	return slog.New(slog.NewMultiHandler(base.Handler(), l.file.Handler()))
}

// trace records each command in the file; progress goes to show.
func (l *targetLog) trace(show func(proc.Progress)) *proc.Trace {
	return &proc.Trace{
		Started: func(cmdline string) { l.file.Info("command started", "command", cmdline) },
		Finished: func(res proc.Result, elapsed time.Duration) {
			attrs := []any{"exit", res.ExitCode, "class", res.Class.String(), "elapsed", elapsed.Round(time.Millisecond)}
			if res.Signal != "" {
				attrs = append(attrs, "signal", res.Signal)
			}
			l.file.Info("command exited", attrs...)
			l.output(res.Stderr)
		},
		Progress: show,
	}
}

// output writes the last lines a tool printed, indented under its record.
func (l *targetLog) output(stderr []byte) {
	lines := strings.Split(strings.ReplaceAll(strings.TrimRight(string(stderr), "\n"), "\r", "\n"), "\n")
	if len(lines) > outputLines {
		lines = lines[len(lines)-outputLines:]
	}
	var b strings.Builder
	for _, line := range lines {
		if line = strings.TrimRight(line, " "); line != "" {
			if len(line) > 1000 {
				line = line[:1000] + "…"
			}
			b.WriteString("    | " + line + "\n")
		}
	}
	if b.Len() == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.WriteString(b.String())
}

func (l *targetLog) Close() error { return l.f.Close() }

// watch prepares one target's run: its log file under the state
// directory (when it can be made: a log is never a reason not to back
// up), a logger that writes to it as well, and a context whose commands
// are traced into the log and the progress view. The returned close ends
// the log.
func (p *Plan) watch(ctx context.Context, t *drivers.Target, logName string, rt Runtime) (context.Context, *slog.Logger, string, func()) {
	log := rt.log().With("target", t.Name, "driver", t.Driver)
	view := rt.view()
	show := func(pr proc.Progress) { view.Update(t.Name, pr) }
	if p.StateDir == "" || logName == "" {
		return proc.WithTrace(ctx, &proc.Trace{Progress: show}), log, "", func() {}
	}
	tl, err := openTargetLog(LogDir(p.StateDir), t.Name, logName)
	if err != nil {
		log.Warn("could not open the target's log file; going on without it", "error", err)
		return proc.WithTrace(ctx, &proc.Trace{Progress: show}), log, "", func() {}
	}
	log = tl.logger(rt.log()).With("target", t.Name, "driver", t.Driver)
	return proc.WithTrace(ctx, tl.trace(show)), log, tl.path, func() { tl.Close() }
}
