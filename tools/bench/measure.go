package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// usage is what one step (one process tree) cost.
//
// How it is measured. The step's top process (alexandria-backup, or bash
// running the bare commands) is a child of the bench. When it exits, the
// bench waits for it with waitid(WEXITED|WNOWAIT), which leaves it a
// zombie, not yet reaped, so /proc/PID/io still exists; reads it; and only
// then reaps it with wait4. The kernel adds a process's I/O counters to its
// parent's when the parent reaps it (wait_task_zombie adds the child's
// task and signal ioac into the parent's signal ioac), and /proc/PID/io of
// a process sums its threads and that signal ioac: so the zombie's file
// holds the I/O of the whole tree, every tool the step started included,
// as long as each was reaped by its parent (alexandria-backup and bash
// wait for every command they start). Reading /proc/PID/io of a live child
// just before it exits would race with its exit; reading it after wait4
// finds nothing. wait4's rusage (ru_inblock) would give only block reads,
// not the bytes read through the page cache, which is most of what a
// benchmark on a warm machine reads.
type usage struct {
	wall time.Duration
	// cpu is user+system time of the process and every descendant it
	// reaped (wait4's rusage).
	cpu time.Duration
	// rchar, wchar: bytes passed to read/write-like system calls by the
	// tree (files, pipes and sockets, cached or not); readBytes,
	// writeBytes: what reached the storage layer.
	rchar, wchar, readBytes, writeBytes int64
	// treeMaxRSS is wait4's ru_maxrss: the largest peak resident set of
	// any single process in the tree (the kernel keeps the maximum over
	// reaped descendants, not a sum).
	treeMaxRSS int64
	// selfPeakRSS is the top process's own VmHWM, sampled from
	// /proc/PID/status every rssSampleEvery while it runs: wait4 cannot
	// give it apart from its children's, and at exit the address space
	// (and VmHWM with it) is gone before the zombie can be read. VmHWM
	// only grows, so the last sample is exact unless the process grew in
	// its last few milliseconds.
	selfPeakRSS int64
}

const rssSampleEvery = 10 * time.Millisecond

// stepError is a step that did not succeed: its exit code and the tail of
// what it printed.
type stepError struct {
	argv   []string
	code   int
	output string
}

func (e *stepError) Error() string {
	return fmt.Sprintf("%s exited with %d:\n%s", strings.Join(e.argv, " "), e.code, e.output)
}

// measure runs argv in dir with env, its output into log (and kept for an
// error), and returns what it cost. Exit codes in okCodes besides 0 count
// as success (alexandria-backup's 3: warnings).
func measure(ctx context.Context, argv, env []string, dir string, log io.Writer, okCodes ...int) (usage, error) {
	var out tailBuffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = io.MultiWriter(&out, log)
	cmd.Stderr = cmd.Stdout
	// Its own process group, so an interrupted bench stops the whole
	// tree; killed with the bench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return usage{}, err
	}
	pid := cmd.Process.Pid

	var u usage
	exited := make(chan struct{})
	sampled := make(chan int64)
	go func() {
		var peak int64
		t := time.NewTicker(rssSampleEvery)
		defer t.Stop()
		for {
			if v, ok := vmHWM(pid); ok {
				peak = max(peak, v)
			}
			select {
			case <-exited:
				sampled <- peak
				return
			case <-t.C:
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = syscall.Kill(-pid, syscall.SIGTERM) })
	defer stop()

	err := waitNoReap(pid)
	u.wall = time.Since(start)
	close(exited)
	u.selfPeakRSS = <-sampled
	if err != nil {
		_ = cmd.Wait()
		return u, fmt.Errorf("waitid: %w", err)
	}
	pio, ioErr := readProcIO(pid)
	waitErr := cmd.Wait()
	if ioErr != nil {
		return u, ioErr
	}
	u.rchar, u.wchar, u.readBytes, u.writeBytes = pio["rchar"], pio["wchar"], pio["read_bytes"], pio["write_bytes"]
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		u.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		u.treeMaxRSS = ru.Maxrss * 1024 // KiB on Linux
	}
	if waitErr != nil {
		code := cmd.ProcessState.ExitCode()
		for _, c := range okCodes {
			if c == code {
				return u, nil
			}
		}
		if err := ctx.Err(); err != nil {
			return u, err
		}
		return u, &stepError{argv: argv, code: code, output: out.String()}
	}
	return u, nil
}

// waitNoReap blocks until process pid has exited, leaving it a zombie:
// waitid(P_PID, pid, WEXITED|WNOWAIT), retried on EINTR.
func waitNoReap(pid int) error {
	const (
		pPID    = 1
		wExited = 0x4
		wNoWait = 0x1000000
	)
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), wExited|wNoWait, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}

// readProcIO parses /proc/PID/io.
func readProcIO(pid int) (map[string]int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			m[k] = n
		}
	}
	return m, nil
}

// vmHWM is pid's peak resident set in bytes, if it still has one.
func vmHWM(pid int) (int64, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n * 1024, err == nil
			}
		}
	}
	return 0, false
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = append(t.b[:0], t.b[len(t.b)-8<<10:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.TrimSpace(t.b)) }
