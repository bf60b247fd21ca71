package proc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sh(script string) Command { return Command{Program: "sh", Args: []string{"-c", script}} }

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// The happy path: every byte reaches the consumer and the tap, in order.
func TestPipePassesEverythingToConsumerAndTap(t *testing.T) {
	h := sha256.New()
	from := Command{Program: "head", Args: []string{"-c", "5000000", "/dev/urandom"}}
	fromRes, toRes, err := ProcessExecutor{}.RunPipe(context.Background(), from, Command{Program: "sha256sum"}, h)
	if err != nil {
		t.Fatal(err)
	}
	if fromRes.Class != ClassOK || toRes.Class != ClassOK || fromRes.ExitCode != 0 {
		t.Fatalf("results %+v %+v", fromRes, toRes)
	}
	got := strings.Fields(string(toRes.Stdout))[0]
	if want := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Fatalf("consumer saw %s, tap saw %s", got, want)
	}
}

// A producer that fails part-way: the consumer is stopped before it ever
// sees the end of its input, so it cannot commit what it got. The
// consumer ignores SIGTERM and would commit if the end of input came
// with or after the stop signal.
func TestPipeProducerFailureWithholdsEndOfInput(t *testing.T) {
	old := StopGrace
	StopGrace = 500 * time.Millisecond
	t.Cleanup(func() { StopGrace = old })
	for _, tc := range []struct{ name, producer, want string }{
		{"exit 1", "head -c 300000 /dev/zero; exit 1", "sh exited 1"},
		{"killed", "head -c 300000 /dev/zero; kill -KILL $$", "sh was killed by SIGKILL"},
		{"nothing written", "echo 'pg_dump: error: connection failed' >&2; exit 1", "sh exited 1: pg_dump: error: connection failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			committed, ready := filepath.Join(dir, "committed"), filepath.Join(dir, "ready")
			// The producer starts only once the consumer ignores SIGTERM: a
			// producer that fails at once could otherwise have the consumer
			// stopped before its trap is set (seen under load).
			consumer := sh(`trap '' TERM; touch ` + ready + `; cat >/dev/null; touch ` + committed)
			producer := sh(`while [ ! -e ` + ready + ` ]; do sleep 0.01; done; ` + tc.producer)
			start := time.Now()
			fromRes, toRes, err := ProcessExecutor{}.RunPipe(context.Background(), producer, consumer, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			var te *ToolError
			if !errors.As(err, &te) || te.Command != fromRes.Command {
				t.Fatalf("the error must be the producer's: %v", err)
			}
			if exists(committed) {
				t.Fatal("the consumer saw the end of its input after the producer failed")
			}
			if toRes.Signal != "SIGKILL" || toRes.Class != ClassError {
				t.Fatalf("consumer %+v, want killed after ignoring SIGTERM", toRes)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// A consumer that dies or stops reading never leaves the producer blocked
// on a full pipe, nor waiting for input that will never come.
func TestPipeConsumerFailureStopsProducer(t *testing.T) {
	for _, tc := range []struct{ name, producer, consumer, want string }{
		// The producers exec their program: a shell that forked it instead
		// would report the program's SIGPIPE as exit status 141.
		{"endless producer, consumer fails", "exec yes", "head -c 10 >/dev/null; echo 'Fatal: repository is locked' >&2; exit 1", "sh exited 1: Fatal: repository is locked"},
		{"endless producer, consumer exits 0 early", "exec yes", "head -c 10 >/dev/null", "sh stopped before reading all of sh's output"},
		{"silent producer", "exec sleep 60", "exit 2", "sh exited 2"},
		{"big write blocked", "exec head -c 100000000 /dev/zero", "exit 1", "sh exited 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			fromRes, toRes, err := ProcessExecutor{}.RunPipe(context.Background(), sh(tc.producer), sh(tc.consumer), nil)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if fromRes.Class != ClassError || fromRes.Signal == "" {
				t.Fatalf("producer %+v: want it stopped by a signal", fromRes)
			}
			if toRes.Command == "" {
				t.Fatal("no consumer result")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// Cancelling stops both sides, the consumer without an end of input.
func TestPipeCancel(t *testing.T) {
	committed := filepath.Join(t.TempDir(), "committed")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	fromRes, toRes, err := ProcessExecutor{}.RunPipe(ctx, sh("printf partial; sleep 60"), sh("cat >/dev/null; touch "+committed), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "sh | sh stopped") {
		t.Fatalf("error %v", err)
	}
	if exists(committed) || fromRes.Signal != "SIGTERM" || toRes.Signal != "SIGTERM" {
		t.Fatalf("committed %v, results %+v %+v", exists(committed), fromRes, toRes)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
}

// When the consumer cannot start, the producer never runs.
func TestPipeConsumerMissing(t *testing.T) {
	ran := filepath.Join(t.TempDir(), "ran")
	_, _, err := ProcessExecutor{}.RunPipe(context.Background(), sh("touch "+ran), Command{Program: "no-such-consumer-here"}, nil)
	if err == nil || exists(ran) {
		t.Fatalf("error %v, producer ran: %v", err, exists(ran))
	}
	_, toRes, err := ProcessExecutor{}.RunPipe(context.Background(), Command{Program: "no-such-producer-here"}, sh("cat >/dev/null; touch "+ran), nil)
	if err == nil || exists(ran) || toRes.Signal != "SIGTERM" {
		t.Fatalf("error %v, consumer committed %v, %+v", err, exists(ran), toRes)
	}
}

// A tap that fails stops the pipeline like a failing side.
func TestPipeTapFailure(t *testing.T) {
	_, _, err := ProcessExecutor{}.RunPipe(context.Background(), Command{Program: "yes"}, sh("cat >/dev/null"), failingWriter{})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// Whatever the tools print on stderr, only bounded tails are kept; and
// secrets stay masked in the results.
func TestPipeBoundsStderrAndMasksSecrets(t *testing.T) {
	from := sh("head -c 1000000 /dev/zero >&2; printf x")
	from.Env = []EnvVar{{Name: "SECRET", Value: "hunter2", Secret: true}}
	fromRes, toRes, err := ProcessExecutor{}.RunPipe(context.Background(), from, sh("head -c 1000000 /dev/zero >&2; cat"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(fromRes.Stderr) != DefaultTail || len(toRes.Stderr) != DefaultTail || string(toRes.Stdout) != "x" {
		t.Fatalf("stderr tails %d %d, stdout %q", len(fromRes.Stderr), len(toRes.Stderr), toRes.Stdout)
	}
	if strings.Contains(fromRes.Command, "hunter2") || !bytes.Contains([]byte(fromRes.Command), []byte("SECRET=***")) {
		t.Fatalf("command %q", fromRes.Command)
	}
}

// A consumer may stop reading at the end of what it needs (pg_restore
// stops at the end of the archive) before the producer exits: fine as long
// as the producer has nothing more to write.
func TestPipeConsumerDoneBeforeEndOfInput(t *testing.T) {
	fromRes, toRes, err := ProcessExecutor{}.RunPipe(context.Background(), sh("printf abc; sleep 0.3"), Command{Program: "head", Args: []string{"-c", "3"}}, nil)
	if err != nil || string(toRes.Stdout) != "abc" || fromRes.ExitCode != 0 {
		t.Fatalf("%v %+v %+v", err, fromRes, toRes)
	}
}

// closingTap writes a file when it is closed, or fails.
type closingTap struct {
	bytes.Buffer
	path string
	fail bool
}

func (c *closingTap) Close() error {
	if c.fail {
		return errors.New("the checksum does not match")
	}
	return os.WriteFile(c.path, c.Bytes(), 0o600)
}

// A tap that is an io.Closer is closed after the producer succeeded and
// before the consumer sees its end of input; when Close fails, the
// consumer never sees it.
func TestPipeTapCloseComesBeforeEndOfInput(t *testing.T) {
	dir := t.TempDir()
	tap := &closingTap{path: filepath.Join(dir, "manifest")}
	// The consumer succeeds only if the tap's file exists at its end of input.
	consumer := sh("cat >/dev/null; test \"$(cat " + tap.path + ")\" = hello")
	if _, _, err := (ProcessExecutor{}).RunPipe(context.Background(), sh("printf hello"), consumer, tap); err != nil {
		t.Fatalf("the tap was not closed before the end of input: %v", err)
	}

	committed := filepath.Join(dir, "committed")
	tap = &closingTap{fail: true}
	_, toRes, err := ProcessExecutor{}.RunPipe(context.Background(), sh("printf hello"), sh("cat >/dev/null; touch "+committed), tap)
	if err == nil || !strings.Contains(err.Error(), "the checksum does not match") || exists(committed) || toRes.Signal != "SIGTERM" {
		t.Fatalf("error %v, committed %v, consumer %+v", err, exists(committed), toRes)
	}
}
