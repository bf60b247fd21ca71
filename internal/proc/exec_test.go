package proc

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"/a/b-c_d.e:f=g": "/a/b-c_d.e:f=g",
		"":               "''",
		"two words":      "'two words'",
		"it's":           `'it'\''s'`,
		"*.tmp":          "'*.tmp'",
		"$HOME;rm -rf /": "'$HOME;rm -rf /'",
		"--dbname=a b=c": "'--dbname=a b=c'",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestCommandStringMasksSecrets(t *testing.T) {
	c := Command{Program: "restic", Args: []string{"backup", "--", "/srv/a b"},
		Env: []EnvVar{{Name: "RESTIC_PASSWORD_FILE", Value: "/etc/pw"}, {Name: "AWS_SECRET_ACCESS_KEY", Value: "hunter2", Secret: true}}}
	got := c.String()
	want := "RESTIC_PASSWORD_FILE=/etc/pw 'AWS_SECRET_ACCESS_KEY=***' restic backup -- '/srv/a b'"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestExitCodes(t *testing.T) {
	restic := ExitCodes{Warning: []int{3}}
	for code, want := range map[int]Class{0: ClassOK, 3: ClassWarning, 1: ClassError, 10: ClassError, 130: ClassError} {
		if got := restic.Classify(code); got != want {
			t.Errorf("restic %d = %v, want %v", code, got, want)
		}
	}
	// A plan can make 3 an error, and 24 ok.
	o := restic.Override(ExitCodes{Error: []int{3}, OK: []int{24}})
	if o.Classify(3) != ClassError || o.Classify(24) != ClassOK || o.Classify(0) != ClassOK {
		t.Fatalf("override: %v", o)
	}
	// Even 0 can be declared an error.
	if (ExitCodes{Error: []int{0}}).Classify(0) != ClassError {
		t.Fatal("0 listed as error must be an error")
	}
}

func TestTailIsBounded(t *testing.T) {
	tail := NewTail(10)
	for i := 0; i < 1000; i++ {
		tail.Write([]byte("line " + strconv.Itoa(i) + "\n"))
	}
	if got := string(tail.Bytes()); got != "\nline 999\n" {
		t.Fatalf("tail = %q", got)
	}
	if cap(tail.buf) > 20 || !tail.Truncated() || tail.Total() < 8000 {
		t.Fatalf("cap %d truncated %v total %d", cap(tail.buf), tail.Truncated(), tail.Total())
	}
	big := NewTail(4)
	big.Write([]byte("0123456789"))
	if string(big.Bytes()) != "6789" {
		t.Fatalf("big write: %q", big.Bytes())
	}
	// Against a plain "keep the end of everything", for many write sizes.
	for size := 1; size < 12; size++ {
		ring, all := NewTail(size), []byte{}
		for i := 0; i < 40; i++ {
			chunk := []byte(strconv.Itoa(i * 7919))[:1+i%5]
			ring.Write(chunk)
			all = append(all, chunk...)
			want := all
			if len(want) > size {
				want = want[len(want)-size:]
			}
			if got := ring.Bytes(); !bytes.Equal(got, want) {
				t.Fatalf("size %d after %d writes: %q, want %q", size, i+1, got, want)
			}
		}
	}
}

func TestProcessExecutorExitCodes(t *testing.T) {
	x := ProcessExecutor{}
	ctx := context.Background()
	run := func(script string, codes ExitCodes) (Result, error) {
		return x.Run(ctx, Command{Program: "sh", Args: []string{"-c", script}, Codes: codes})
	}
	if res, err := run("echo out; echo err >&2", ExitCodes{}); err != nil || res.Class != ClassOK ||
		string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Fatalf("ok run: %+v %v", res, err)
	}
	if res, err := run("exit 3", ExitCodes{Warning: []int{3}}); err != nil || res.Class != ClassWarning || res.ExitCode != 3 {
		t.Fatalf("warning run: %+v %v", res, err)
	}
	res, err := run("echo first >&2; echo 'Fatal: wrong password' >&2; exit 1", ExitCodes{Warning: []int{3}})
	var te *ToolError
	if !errors.As(err, &te) || res.ExitCode != 1 {
		t.Fatalf("error run: %+v %v", res, err)
	}
	if got := err.Error(); got != "sh exited 1: first | Fatal: wrong password" {
		t.Fatalf("error message: %q", got)
	}
	_, err = run("kill -KILL $$", ExitCodes{})
	if err == nil || !strings.Contains(err.Error(), "sh was killed by SIGKILL") {
		t.Fatalf("signal: %v", err)
	}
	if _, err := x.Run(ctx, Command{Program: "no-such-program-here"}); err == nil {
		t.Fatal("a missing program must fail")
	}
}

func TestProcessExecutorEnvAndStdin(t *testing.T) {
	res, err := ProcessExecutor{}.Run(context.Background(), Command{Program: "sh",
		Args: []string{"-c", `printf '%s|' "$ALEX_TEST" "$LC_ALL"; cat`},
		Env:  []EnvVar{{Name: "ALEX_TEST", Value: "v", Secret: true}}, Stdin: strings.NewReader("in")})
	if err != nil || string(res.Stdout) != "v|C.UTF-8|in" {
		t.Fatalf("%q %v", res.Stdout, err)
	}
	if strings.Contains(res.Command, "=v ") {
		t.Fatalf("secret shown in %q", res.Command)
	}
}

func TestProcessExecutorExtraFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/secret", []byte("s3cr3t"), 0o600)
	res, err := ProcessExecutor{}.Run(context.Background(), Command{Program: "sh", Args: []string{"-c", "cat <&3"}, ExtraFiles: []string{dir + "/secret"}})
	if err != nil || string(res.Stdout) != "s3cr3t" || strings.Contains(res.Command, "s3cr3t") {
		t.Fatalf("%q %v", res.Stdout, err)
	}
}

// Cancelling stops the tool's whole process group, grandchildren included.
func TestProcessExecutorStopsProcessGroup(t *testing.T) {
	pidFile := t.TempDir() + "/pid"
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err := ProcessExecutor{}.Run(ctx, Command{Program: "sh",
		Args: []string{"-c", "sleep 60 & echo $! > " + pidFile + "; wait"}})
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("want a cancellation error, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v to stop", time.Since(start))
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatal("no grandchild pid")
	}
	deadline := time.Now().Add(2 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d outlived the cancelled tool", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// However much a tool prints, only the tail is kept.
func TestProcessExecutorBoundsOutput(t *testing.T) {
	res, err := ProcessExecutor{}.Run(context.Background(), Command{Program: "head", Args: []string{"-c", "20000000", "/dev/zero"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stdout) != DefaultTail || !bytes.Equal(res.Stdout, make([]byte, DefaultTail)) {
		t.Fatalf("kept %d bytes", len(res.Stdout))
	}
}

// Command.Stdout takes all of a tool's standard output (a backup that is
// the tool's output goes straight to its file): every byte reaches it, none
// is kept in the result, stderr is still kept.
func TestProcessExecutorStdoutWriter(t *testing.T) {
	path := t.TempDir() + "/out"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ProcessExecutor{}.Run(context.Background(), Command{Program: "sh",
		Args: []string{"-c", "head -c 5000000 /dev/zero; echo said >&2"}, Stdout: f})
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Size() != 5000000 || len(res.Stdout) != 0 || !strings.Contains(string(res.Stderr), "said") {
		t.Fatalf("file has %d bytes, result kept %d bytes of stdout, stderr %q", fi.Size(), len(res.Stdout), res.Stderr)
	}
	// A pipeline's producer writes into the pipe: it cannot have one too.
	if _, _, err := (ProcessExecutor{}).RunPipe(context.Background(), Command{Program: "true", Stdout: f}, Command{Program: "true"}, nil); err == nil {
		t.Fatal("RunPipe took a producer with its own Stdout")
	}
}
