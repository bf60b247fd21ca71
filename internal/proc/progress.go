package proc

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"
)

// Progress is one update of a running tool's progress, read from its
// machine-readable output. Fields a tool does not report are zero (ETA and
// Percent: negative).
type Progress struct {
	Bytes   int64         // bytes processed so far
	Total   int64         // bytes to process in all; 0 when unknown
	Percent float64       // 0–100; negative when unknown
	Files   int64         // files done
	Rate    float64       // bytes per second
	ETA     time.Duration // negative when unknown
	Item    string        // the file being worked on
}

// ProgressReader reads a tool's progress from one of its outputs, line by
// line (a line ends at \n or \r, as terminal progress does).
type ProgressReader struct {
	Stderr bool // read standard error; otherwise standard output
	// Parse judges one line: a progress update (ok), or text that goes on
	// into the output tail as keep (which may rewrite it, e.g. a JSON log
	// line to its message, or drop it when nil).
	Parse func(line []byte) (p Progress, ok bool, keep []byte)
}

// Trace is told what the commands run under a context do: how per-target
// logs and the progress display watch a target without the drivers
// knowing about either. Any field may be nil.
type Trace struct {
	// Started is told each command line (secrets masked) as it starts.
	Started func(cmdline string)
	// Finished is told each command's result when it has exited.
	Finished func(res Result, elapsed time.Duration)
	// Progress is told each progress update of a command that reports one.
	Progress func(Progress)
}

type traceKey struct{}

// WithTrace returns ctx carrying tr: every command the executor runs under
// the returned context reports to it.
func WithTrace(ctx context.Context, tr *Trace) context.Context {
	return context.WithValue(ctx, traceKey{}, tr)
}

// TraceOf returns the Trace ctx carries, or an empty one: a caller may
// use its fields without checking for nil first.
func TraceOf(ctx context.Context) *Trace {
	if tr, ok := ctx.Value(traceKey{}).(*Trace); ok {
		return tr
	}
	return &Trace{}
}

func (tr *Trace) started(cmdline string) {
	if tr.Started != nil {
		tr.Started(cmdline)
	}
}

func (tr *Trace) finished(res Result, since time.Time) {
	if tr.Finished != nil {
		tr.Finished(res, time.Since(since))
	}
}

// maxLine bounds a line held while waiting for its end; a longer one goes
// to the tail as it is.
const maxLine = 1 << 20

// progressWriter splits a tool's output into lines, passes progress to
// the trace and everything else on to the tail.
type progressWriter struct {
	mu     sync.Mutex
	parse  func([]byte) (Progress, bool, []byte)
	report func(Progress)
	tail   io.Writer
	line   []byte
}

func newProgressWriter(r *ProgressReader, report func(Progress), tail io.Writer) *progressWriter {
	return &progressWriter{parse: r.Parse, report: report, tail: tail}
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			w.line = append(w.line, p...)
			if len(w.line) > maxLine {
				w.tail.Write(w.line)
				w.line = w.line[:0]
			}
			break
		}
		w.line = append(w.line, p[:i]...)
		w.judge()
		p = p[i+1:]
	}
	return n, nil
}

// judge handles the line held in w.line.
func (w *progressWriter) judge() {
	if len(w.line) == 0 {
		return
	}
	prog, ok, keep := w.parse(w.line)
	switch {
	case ok && w.report != nil:
		w.report(prog)
	case !ok && keep != nil:
		w.tail.Write(append(keep, '\n'))
	}
	w.line = w.line[:0]
}

// flush handles an unfinished last line once the tool has exited.
func (w *progressWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.judge()
}
