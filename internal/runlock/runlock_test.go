package runlock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests that need a second process re-run this test binary as a helper
// (the pattern of os/exec's own tests): with RUNLOCK_HELPER set, TestHelper
// takes the lock named by RUNLOCK_PATH, prints "locked", and then does what
// RUNLOCK_HELPER says.
func TestHelper(t *testing.T) {
	mode := os.Getenv("RUNLOCK_HELPER")
	if mode == "" {
		t.Skip("only run as a helper process")
	}
	l, err := Acquire(context.Background(), os.Getenv("RUNLOCK_PATH"), Me("helper "+mode), 0, nil)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	switch mode {
	case "hold":
		fmt.Println("locked")
		time.Sleep(time.Minute) // until killed
	case "child-then-exit":
		// Start a long-lived child, then exit without releasing: the
		// kernel closes our descriptor, and the child must not have a copy.
		child := exec.Command("sleep", "60")
		if err := child.Start(); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked", child.Process.Pid)
		os.Exit(0)
	}
	_ = l
}

// helper starts the helper process in mode and waits for its "locked" line;
// it returns the process and the rest of that line.
func helper(t *testing.T, path, mode string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(), "RUNLOCK_HELPER="+mode, "RUNLOCK_PATH="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "locked") {
		t.Fatalf("helper: %q, %v", line, err)
	}
	return cmd, strings.TrimSpace(strings.TrimPrefix(line, "locked"))
}

func mustAcquire(t *testing.T, path string, wait time.Duration) *Lock {
	t.Helper()
	l, err := Acquire(context.Background(), path, Me("test"), wait, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Release() })
	return l
}

func TestSecondAcquireRefusedAtOnceNamingTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	mustAcquire(t, path, 0)
	start := time.Now()
	// A second open file description in the same process conflicts too
	// (flock locks belong to the open file description).
	_, err := Acquire(context.Background(), path, Me("second"), 0, nil)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("got %v, want a *HeldError", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("refusing took %s; it must be at once", d)
	}
	if held.Holder.PID != os.Getpid() || held.Holder.Command != "test" || held.Holder.StartedAt.IsZero() {
		t.Errorf("holder %+v", held.Holder)
	}
	msg := err.Error()
	for _, want := range []string{"another run holds the lock " + path, fmt.Sprintf("pid %d (test)", os.Getpid()), "started 20"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestWaitGetsTheLockOnceReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	first := mustAcquire(t, path, 0)
	go func() {
		time.Sleep(300 * time.Millisecond)
		first.Release()
	}()
	var told Holder
	start := time.Now()
	l, err := Acquire(context.Background(), path, Me("waiter"), 10*time.Second, func(h Holder) { told = h })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Errorf("got the lock after %s; the holder released it after 300ms", d)
	}
	if told.PID != os.Getpid() || told.Command != "test" {
		t.Errorf("onWait was told %+v", told)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"command":"waiter"`) {
		t.Errorf("the lock file names %q, not the new holder", data)
	}
}

func TestWaitGivesUp(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	mustAcquire(t, path, 0)
	start := time.Now()
	_, err := Acquire(context.Background(), path, Me("waiter"), 400*time.Millisecond, nil)
	var held *HeldError
	if !errors.As(err, &held) || !strings.Contains(err.Error(), "gave up after waiting 400ms") {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("gave up after %s, want 400ms", d)
	}
}

func TestWaitEndsWithTheContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	mustAcquire(t, path, 0)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := Acquire(ctx, path, Me("waiter"), time.Hour, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a cancelled wait took %s", d)
	}
}

func TestReleaseKeepsTheFileAndForgetsTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l := mustAcquire(t, path, 0)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v", fi, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) != 0 {
		t.Fatalf("after release: %q, %v (the file must stay, empty)", data, err)
	}
	mustAcquire(t, path, 0)
}

// A holder killed with SIGKILL runs no cleanup at all; the kernel still
// releases its lock, and the next run takes it at once.
func TestKilledHolderLeavesNoStaleLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	cmd, _ := helper(t, path, "hold")
	_, err := Acquire(context.Background(), path, Me("test"), 0, nil)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder.PID != cmd.Process.Pid || held.Holder.Command != "helper hold" {
		t.Fatalf("while the helper (pid %d) holds it: %v", cmd.Process.Pid, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	start := time.Now()
	mustAcquire(t, path, 0)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("took %s after the holder died", d)
	}
}

// The lock's descriptor is close-on-exec: a child the holder started, still
// running after the holder exited, does not keep the lock.
func TestChildrenDoNotInheritTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	cmd, rest := helper(t, path, "child-then-exit")
	cmd.Wait()
	child, err := strconv.Atoi(rest)
	if err != nil {
		t.Fatalf("helper said %q", rest)
	}
	defer syscall.Kill(child, syscall.SIGKILL)
	if err := syscall.Kill(child, 0); err != nil {
		t.Fatalf("the helper's child %d is not running (%v): the test proves nothing", child, err)
	}
	// The child's descriptors: none may be the lock file.
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", child))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", child, fd.Name())); target == path {
			t.Errorf("the child holds the lock file as fd %s", fd.Name())
		}
	}
	mustAcquire(t, path, 0)
}

// Probe tells a free lock from a held one and names the holder, here and
// in another process, and creates nothing.
func TestProbe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	if _, _, err := Probe(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("no lock file: got %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("Probe created the lock file")
	}

	l := mustAcquire(t, path, 0)
	held, h, err := Probe(path)
	if err != nil || !held || h.PID != os.Getpid() || h.Command != "test" {
		t.Fatalf("held here: %v, %+v, %v", held, h, err)
	}
	l.Release()
	if held, h, err := Probe(path); err != nil || held || h.PID != 0 {
		t.Fatalf("released: %v, %+v, %v", held, h, err)
	}

	cmd, _ := helper(t, path, "hold")
	held, h, err = Probe(path)
	if err != nil || !held || h.PID != cmd.Process.Pid || h.Command != "helper hold" {
		t.Fatalf("held by the helper (pid %d): %v, %+v, %v", cmd.Process.Pid, held, h, err)
	}
	data, _ := os.ReadFile(path)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// The dead holder's details stay in the file; only the lock tells.
	if held, _, err := Probe(path); err != nil || held {
		t.Fatalf("after the holder was killed: %v, %v", held, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(data) {
		t.Errorf("Probe changed the file: %q, was %q", after, data)
	}
}

// A run that starts while a probe holds its shared lock for an instant is
// not refused.
func TestProbeNeverRefusesARun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	mustAcquire(t, path, 0).Release()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(20*time.Millisecond, func() { f.Close() })
	l, err := Acquire(context.Background(), path, Me("run nightly"), 0, func(Holder) { t.Error("onWait called without --wait") })
	if err != nil {
		t.Fatalf("refused because of a probe: %v", err)
	}
	l.Release()
}

func TestHolderString(t *testing.T) {
	if s := (Holder{}).String(); s != "another process" {
		t.Errorf("zero holder: %q", s)
	}
	started := time.Now().Add(-90 * time.Second).UTC().Truncate(time.Second)
	s := Holder{PID: 42, Host: "elsewhere.example", Command: "run nightly", StartedAt: started}.String()
	want := "pid 42 on elsewhere.example (run nightly), started " + started.Format(time.RFC3339) + " ("
	if !strings.HasPrefix(s, want) || !strings.HasSuffix(s, " ago)") {
		t.Errorf("got %q, want %q...", s, want)
	}
}
