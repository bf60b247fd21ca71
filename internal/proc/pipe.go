package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Piper is implemented by executors that can run a pipeline, producer |
// consumer, without a shell (ProcessExecutor does; test fakes need not).
// Drivers find it by type assertion.
type Piper interface {
	// RunPipe runs from with its standard output fed to to's standard
	// input, every byte passed on also written to tap (when not nil), and
	// returns both results. The consumer sees the end of its input only
	// after the producer exited ok or with a warning and, when tap is an
	// io.Closer, tap.Close returned nil (a stream's checksum can be
	// checked, or its manifest written, before the consumer commits
	// anything). When the producer
	// fails, or the context ends, the consumer is stopped without ever
	// seeing an end of input, so a tool that commits on end of input
	// (restic backup --stdin, borg create -) commits nothing. When the
	// consumer fails or stops reading, the producer is stopped too (its
	// output pipe is closed and its group gets its stop signal), so it never
	// blocks on a full pipe. A consumer that exits ok before its end of
	// input is fine as long as the producer has nothing more to say. The
	// error is the first failure: the producer's, the consumer's
	// (including stopping to read while the producer still writes), the
	// tap's, or the context's.
	RunPipe(ctx context.Context, from, to Command, tap io.Writer) (fromRes, toRes Result, err error)
}

var _ Piper = ProcessExecutor{}

// pipeCause is what stopped a pipeline first.
type pipeCause int

const (
	causeNone     pipeCause = iota
	causeProducer           // the producer failed
	causeConsumer           // the consumer failed, or stopped reading
	causeTap                // the tap could not take the bytes
	causeRead               // reading the producer's output failed
	causeContext            // the context ended
)

type waited struct {
	res Result
	err error
}

// pumpError says which side of the pump failed.
type pumpError struct {
	cause pipeCause
	err   error
}

func (e *pumpError) Error() string { return e.err.Error() }

// RunPipe implements Piper with two process groups and a copy between
// them in this process, which is what lets it hold back the consumer's end
// of input.
func (p ProcessExecutor) RunPipe(ctx context.Context, from, to Command, tap io.Writer) (Result, Result, error) {
	if to.Stdin != nil {
		return notStarted(from), notStarted(to), errors.New("RunPipe: the consumer's standard input is the pipe; Command.Stdin must be nil")
	}
	if from.Stdout != nil {
		return notStarted(from), notStarted(to), errors.New("RunPipe: the producer's standard output is the pipe; Command.Stdout must be nil")
	}
	if p.Log != nil {
		p.Log(from.String() + " | " + to.String())
	}
	tr, began := TraceOf(ctx), time.Now()
	tr.started(from.String() + " | " + to.String())
	fromRes, toRes, err := runPipe(ctx, from, to, tap)
	tr.finished(fromRes, began)
	tr.finished(toRes, began)
	return fromRes, toRes, err
}

func runPipe(ctx context.Context, from, to Command, tap io.Writer) (Result, Result, error) {
	fromRes, toRes := notStarted(from), notStarted(to)
	outR, outW, err := os.Pipe() // producer's stdout → this process
	if err != nil {
		return fromRes, toRes, err
	}
	defer outR.Close()
	defer outW.Close()
	inR, inW, err := os.Pipe() // this process → consumer's stdin
	if err != nil {
		return fromRes, toRes, err
	}
	defer inR.Close()
	// Closed only after the consumer has exited, unless the producer
	// succeeded (then it is closed early, which is the end of input).
	defer inW.Close()

	// The consumer starts first: when it cannot start, nothing is dumped.
	toCtx, stopTo := context.WithCancel(ctx)
	defer stopTo()
	consumer, err := start(toCtx, to, inR, nil)
	inR.Close() // the child has its copy; ours would hide its exit from our writes
	if err != nil {
		return fromRes, toRes, err
	}
	fromCtx, stopFrom := context.WithCancel(ctx)
	defer stopFrom()
	producer, err := start(fromCtx, from, from.Stdin, outW)
	outW.Close() // the child has its copy; ours would hide its end of output
	if err != nil {
		stopTo()
		toRes, _ = consumer.wait(toCtx)
		return fromRes, toRes, err
	}

	fromDone, toDone := make(chan waited, 1), make(chan waited, 1)
	pumped := make(chan error, 1)
	go func() { r, e := producer.wait(fromCtx); fromDone <- waited{r, e} }()
	go func() { r, e := consumer.wait(toCtx); toDone <- waited{r, e} }()
	go func() { pumped <- pump(inW, outR, tap) }()

	var (
		fromW, toW *waited
		pumpErr    error
		pumpOver   bool
		eofSent    bool
		cause      = causeNone
		aborted    bool
		ctxDone    = ctx.Done()
	)
	abort := func(c pipeCause) {
		if cause == causeNone {
			cause = c
		}
		if aborted {
			return
		}
		aborted = true
		stopFrom()
		stopTo()
		// Wakes a pump blocked reading, and makes the producer's next
		// write fail (SIGPIPE/EPIPE) instead of blocking.
		outR.Close()
	}
	for fromW == nil || toW == nil || !pumpOver {
		select {
		case <-ctxDone:
			ctxDone = nil
			abort(causeContext)
		case w := <-fromDone:
			fromDone, fromW = nil, &w
			if w.res.Class == ClassError {
				abort(causeProducer)
			}
		case err := <-pumped:
			pumped, pumpOver, pumpErr = nil, true, err
			var pe *pumpError
			if errors.As(err, &pe) {
				abort(pe.cause)
			}
		case w := <-toDone:
			toDone, toW = nil, &w
			// A consumer may end well before its end of input (pg_restore
			// stops at the end of the archive): if the producer has more
			// to say, the pump's next write fails and that is the error.
			if w.res.Class == ClassError {
				abort(causeConsumer)
			}
		}
		if !aborted && !eofSent && pumpOver && fromW != nil {
			// The producer succeeded and all of its output was passed on:
			// the tap is told first, and only then does the consumer see
			// the end of its input.
			if c, ok := tap.(io.Closer); ok {
				if err := c.Close(); err != nil {
					pumpErr = err
					abort(causeTap)
					continue
				}
			}
			inW.Close()
			eofSent = true
		}
	}
	fromRes, toRes = fromW.res, toW.res

	pipeline := from.Program + " | " + to.Program
	switch cause {
	case causeNone:
		return fromRes, toRes, nil
	case causeContext:
		return fromRes, toRes, fmt.Errorf("%w (%s stopped)", ctx.Err(), pipeline)
	case causeProducer:
		return fromRes, toRes, fromW.err
	case causeConsumer:
		var te *ToolError
		if errors.As(toW.err, &te) {
			return fromRes, toRes, te
		}
		if toRes.Class == ClassError && toRes.ExitCode > 0 {
			// It exited with an error of its own just as it was stopped.
			return fromRes, toRes, &ToolError{toRes}
		}
		msg := fmt.Sprintf("%s stopped before reading all of %s's output", to.Program, from.Program)
		if tail := LastLines(toRes.Stderr, 8); tail != "" {
			msg += ": " + tail
		}
		return fromRes, toRes, errors.New(msg)
	case causeTap:
		return fromRes, toRes, fmt.Errorf("%s: %w", pipeline, pumpErr)
	default:
		return fromRes, toRes, fmt.Errorf("reading %s's output: %w", from.Program, pumpErr)
	}
}

// pump copies the producer's output to the consumer, and each block the
// consumer took also to the tap. It returns nil at the producer's end of
// output.
func pump(dst io.Writer, src io.Reader, tap io.Writer) error {
	buf := make([]byte, 256<<10)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := dst.Write(buf[:n]); err != nil {
				return &pumpError{causeConsumer, err}
			}
			if tap != nil {
				if _, err := tap.Write(buf[:n]); err != nil {
					return &pumpError{causeTap, err}
				}
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return &pumpError{causeRead, rerr}
		}
	}
}
