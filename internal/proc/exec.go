// Package proc runs the tools, and is the only package of the program that
// imports os/exec (TestOnlyProcStartsProcesses keeps it so).
//
// A Command is plain data: argv, environment, stdin, which exit codes are a
// warning, which signal stops the tool, which values are secret; its one
// String method masks them for dry-run output, logs, reports and errors.
// ProcessExecutor runs a Command as a child in its own process group, never
// through a shell, stops the whole group with the tool's own signal (then
// SIGKILL) when the context ends, keeps bounded tails of its output, masks
// passwords in URLs in what it says, and judges its exit in one switch.
// RunPipe runs producer | consumer and holds back the consumer's end of
// input until the producer succeeded. A Trace on the context is told what
// runs and the progress a ProgressReader reads from a tool's output.
//
// It knows no particular tool: the drivers say which codes, signals and
// progress parsers fit theirs.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultTail is how many bytes of a tool's output are kept by default:
// enough for an error message or a JSON summary, and bounded whatever the
// tool prints.
const DefaultTail = 64 << 10

// StopGrace is how long a tool gets between its stop signal
// (Command.Stop) and SIGKILL when its context ends.
var StopGrace = 10 * time.Second

// Result is what one tool run left behind.
type Result struct {
	Command  string // Command.String(), secrets masked
	ExitCode int    // -1 when killed by a signal
	Signal   string // the signal that killed it, if any
	Class    Class
	Stdout   []byte // tail, at most Command.StdoutTail bytes
	Stderr   []byte // tail, at most DefaultTail bytes
}

// Executor runs commands. The real one is ProcessExecutor; tests may script one.
type Executor interface {
	Run(ctx context.Context, c Command) (Result, error)
}

// ToolError is a tool run judged an error: its exit status and the tail of
// what it said on stderr.
type ToolError struct {
	Result
}

func (e *ToolError) Error() string {
	status := fmt.Sprintf("exited %d", e.ExitCode)
	if e.Signal != "" {
		status = "was killed by " + e.Signal
	}
	msg := fmt.Sprintf("%s %s", programOf(e.Command), status)
	if tail := LastLines(e.Stderr, 8); tail != "" {
		msg += ": " + tail
	}
	return msg
}

func programOf(cmdline string) string {
	for _, w := range strings.Fields(cmdline) {
		if !strings.Contains(w, "=") {
			return w
		}
	}
	return cmdline
}

// LastLines returns the last n non-empty lines of b, joined by " | " so a
// multi-line tool message stays on one log line.
func LastLines(b []byte, n int) string {
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// ProcessExecutor runs commands as real child processes: each in its own
// process group, stopped as a group (Command.Stop, then SIGKILL) when the context
// ends, with output read concurrently into bounded tail buffers. Never a shell.
type ProcessExecutor struct {
	// Log, when set, is told every command line before it starts.
	Log func(cmdline string)
}

// Run starts c and waits for it. The returned error is nil for ok and
// warning exits, a *ToolError for error exits, or a start failure.
func (p ProcessExecutor) Run(ctx context.Context, c Command) (Result, error) {
	if p.Log != nil {
		p.Log(c.String())
	}
	tr, began := TraceOf(ctx), time.Now()
	tr.started(c.String())
	pr, err := start(ctx, c, c.Stdin, c.Stdout)
	if err != nil {
		res := notStarted(c)
		tr.finished(res, began)
		return res, err
	}
	res, err := pr.wait(ctx)
	tr.finished(res, began)
	return res, err
}

// process is one started child and the tails its output goes to.
type process struct {
	c      Command
	cmd    *exec.Cmd
	stdout *Tail // nil when stdout went elsewhere (a pipe)
	stderr *Tail
	// progress, when the command reports progress, splits one output
	// into progress and tail; it is flushed once the tool has exited.
	progress *progressWriter
}

// notStarted is the result of a command that could not be started.
func notStarted(c Command) Result {
	return Result{Command: c.String(), ExitCode: -1, Class: ClassError}
}

// start starts c in its own process group, stopped as a group when ctx
// ends. stdin is the child's standard input (nil: /dev/null); stdout, when
// not nil, replaces the bounded tail standard output is kept in.
func start(ctx context.Context, c Command, stdin io.Reader, stdout io.Writer) (*process, error) {
	cmd := exec.CommandContext(ctx, c.Program, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = childEnv(c.Env, c.DropEnv)
	cmd.Stdin = stdin
	for _, path := range c.ExtraFiles {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		// The child gets its own copy of the descriptor at start.
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	// Setpgid: the tool and its children form one group we can stop
	// together. Pdeathsig: if this process dies without stopping them, the
	// kernel kills the tool instead of leaving it running unattended.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stop := c.Stop
	if stop == 0 {
		stop = syscall.SIGTERM
	}
	cmd.Cancel = func() error {
		// The tool's own children (ssh under rsync, pg_dump workers) are in
		// its process group; stop them all, with the signal the tool
		// cleans up on.
		return syscall.Kill(-cmd.Process.Pid, stop)
	}
	cmd.WaitDelay = StopGrace
	pr := &process{c: c, cmd: cmd, stderr: NewTail(DefaultTail)}
	cmd.Stdout, cmd.Stderr = stdout, pr.stderr
	if stdout == nil {
		size := c.StdoutTail
		if size <= 0 {
			size = DefaultTail
		}
		pr.stdout = NewTail(size)
		cmd.Stdout = pr.stdout
	}
	if r := c.Progress; r != nil {
		switch {
		case r.Stderr:
			pr.progress = newProgressWriter(r, TraceOf(ctx).Progress, pr.stderr)
			cmd.Stderr = pr.progress
		case pr.stdout != nil:
			pr.progress = newProgressWriter(r, TraceOf(ctx).Progress, pr.stdout)
			cmd.Stdout = pr.progress
		default:
			// The command's own writer of lines (proc.Lines) gets what is
			// not progress; a file or pipe gets the output untouched.
			if _, isFile := stdout.(*os.File); !isFile {
				pr.progress = newProgressWriter(r, TraceOf(ctx).Progress, stdout)
				cmd.Stdout = pr.progress
			}
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Program, err)
	}
	return pr, nil
}

// wait waits for the process and judges its exit; ctx is the context it
// was started with.
func (pr *process) wait(ctx context.Context) (Result, error) {
	c, cmd := pr.c, pr.cmd
	res := Result{Command: c.String(), ExitCode: -1}
	err := cmd.Wait()
	// Whatever happened, make sure nothing of the group outlives the run.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if pr.progress != nil {
		pr.progress.flush()
	}
	if pr.stdout != nil {
		res.Stdout = pr.stdout.Bytes()
	}
	// A tool may repeat a URL with its password (borg, restic's sftp:);
	// everything shown of its stderr comes from here.
	res.Stderr = maskURLPasswordBytes(pr.stderr.Bytes())
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = unix(ws.Signal())
		} else {
			res.ExitCode = exitErr.ExitCode()
		}
	case errors.Is(err, exec.ErrWaitDelay):
		// The tool exited but a grandchild kept its output open.
		res.ExitCode = cmd.ProcessState.ExitCode()
	default:
		res.Class = ClassError
		return res, fmt.Errorf("%s: %w", c.Program, err)
	}
	if res.Signal != "" {
		res.Class = ClassError
	} else {
		res.Class = c.Codes.Classify(res.ExitCode)
	}
	if res.Class == ClassError {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return res, fmt.Errorf("%w (%s stopped)", ctxErr, c.Program)
		}
		return res, &ToolError{res}
	}
	return res, nil
}

func unix(s syscall.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	}
	return "signal " + s.String()
}

// childEnv is the inherited environment, less the names in drop, plus the
// command's own variables. Messages are forced to English/UTF-8 so they
// can be read reliably (and JSON from restic and borg needs a UTF-8 locale).
func childEnv(extra []EnvVar, drop []string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); !slices.Contains(drop, name) {
			env = append(env, kv)
		}
	}
	env = append(env, "LC_ALL=C.UTF-8")
	for _, e := range extra {
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// Tail is an io.Writer that keeps only the last N bytes written, in a
// ring: memory stays bounded however much a tool prints, and each write
// costs only its own length.
type Tail struct {
	mu    sync.Mutex
	buf   []byte
	size  int
	start int  // index of the oldest byte once full
	full  bool // buf has reached size and wraps
	total int64
}

// NewTail returns a Tail keeping the last size bytes.
func NewTail(size int) *Tail { return &Tail{size: size} }

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	t.total += int64(n)
	if n >= t.size {
		t.buf = append(t.buf[:0], p[n-t.size:]...)
		t.start, t.full = 0, true
		return n, nil
	}
	if !t.full {
		room := t.size - len(t.buf)
		if n <= room {
			t.buf = append(t.buf, p...)
			return n, nil
		}
		t.buf = append(t.buf, p[:room]...)
		p = p[room:]
		t.start, t.full = 0, true
	}
	// Overwrite the oldest bytes, wrapping at the end.
	c := copy(t.buf[t.start:], p)
	copy(t.buf, p[c:])
	t.start = (t.start + len(p)) % t.size
	return n, nil
}

// Bytes returns a copy of the kept tail, oldest byte first.
func (t *Tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return bytes.Clone(t.buf)
	}
	return append(bytes.Clone(t.buf[t.start:]), t.buf[:t.start]...)
}

// Total is how many bytes were written in all.
func (t *Tail) Total() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// Truncated reports whether bytes were dropped from the front.
func (t *Tail) Truncated() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total > int64(len(t.buf))
}
