package cli

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal: the program writes to tty as it
// would to a terminal, and what it wrote is read from master.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Fatalf("unlockpt: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatalf("ptsname: %v", errno)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close(); master.Close() })
	return master, tty
}

// runOnTerminal runs the command line with stderr on a pseudo-terminal
// and returns the exit code and what the terminal received.
func runOnTerminal(t *testing.T, args ...string) (int, string) {
	t.Helper()
	master, tty := openPTY(t)
	got := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once the tty side is closed
		got <- b.String()
	}()
	var stdout bytes.Buffer
	code := Main(append([]string{"alexandria-backup"}, args...), &stdout, tty)
	tty.Close()
	return code, <-got
}

func TestProgressOnATerminalOnly(t *testing.T) {
	requireTool(t, "restic")
	t.Setenv("TERM", "xterm") // whatever terminal runs the tests: TERM=dumb draws nothing
	s := newSandbox(t, "")
	b := make([]byte, 16<<20)
	rand.New(rand.NewSource(3)).Read(b)
	os.WriteFile(filepath.Join(s.lib, "books", "big.pdf"), b, 0o644)
	if code, _, errOut := runCLI(t, "init", "library", "-c", s.plan); code != 0 {
		t.Fatalf("init: %s", errOut)
	}

	code, screen := runOnTerminal(t, "run", "weekly", "-c", s.plan)
	if code != 0 {
		t.Fatalf("run on a terminal: exit %d\n%q", code, screen)
	}
	// A status line for the target, in place (cleared and redrawn), with
	// the log lines above it, and nothing left of it at the end.
	if !strings.Contains(screen, "library  backup") {
		t.Errorf("no status line for the target:\n%q", screen)
	}
	if !strings.Contains(screen, "\r\x1b[K") {
		t.Errorf("the status line is not redrawn in place:\n%q", screen)
	}
	if !strings.Contains(screen, `msg="backup started"`) {
		t.Errorf("the log lines are missing (info is the default on a terminal):\n%q", screen)
	}
	last := screen[strings.LastIndex(screen, "\n")+1:]
	if strings.Trim(strings.ReplaceAll(last, "\r\x1b[K", ""), "\x1b[1A") != "" {
		t.Errorf("a status line was left on the screen: %q", last)
	}

	// Asked not to, or --quiet: nothing moves on the terminal (the
	// summary table's colour is no movement; --quiet has no table).
	for _, flag := range []string{"--no-progress", "--quiet"} {
		code, screen = runOnTerminal(t, "run", "weekly", flag, "-c", s.plan)
		if code != 0 || strings.Contains(screen, "\x1b[K") || strings.Contains(screen, "\x1b[1A") || (flag == "--quiet" && screen != "") {
			t.Errorf("%s: exit %d, terminal got:\n%q", flag, code, screen)
		}
	}
}
