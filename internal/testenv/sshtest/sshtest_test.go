package sshtest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func sshRun(s *Server, args ...string) *exec.Cmd {
	return exec.Command("ssh", append(append(s.SSHArgs(), s.User()+"@"+s.Host()), args...)...)
}

func TestServerLifecycle(t *testing.T) {
	start := time.Now()
	s := ForTest(t)
	t.Logf("sshd ready in %v (pid %d, port %d)", time.Since(start), s.Pid(), s.Port())

	out, err := sshRun(s, "echo", "hello from", "$USER").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v\n%s\nsshd log:\n%s", err, out, s.LogTail())
	}
	if got, want := strings.TrimSpace(string(out)), "hello from "+s.User(); got != want {
		t.Errorf("ssh printed %q, want %q", got, want)
	}
	if !strings.Contains(s.SSHCommand(), "-p "+strconv.Itoa(s.Port())) || !strings.HasPrefix(s.SSHCommand(), "ssh ") {
		t.Errorf("SSHCommand %q", s.SSHCommand())
	}

	// A session still running when the server stops must not survive it:
	// its sshd processes put themselves in a new session, out of reach
	// of a signal to the listener alone.
	marker := filepath.Join(s.Dir, "session-started")
	long := sshRun(s, "touch "+marker+"; exec sleep 300")
	if err := long.Start(); err != nil {
		t.Fatal(err)
	}
	defer long.Process.Kill()
	waitFor(t, func() bool { _, err := os.Stat(marker); return err == nil })
	tree := slices.Concat(descendants(s.Pid())...)
	if len(tree) == 0 {
		t.Fatal("no session processes below sshd while a session runs")
	}

	pid := s.Pid()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("sshd pid %d still exists after Stop (kill 0: %v)", pid, err)
	}
	for _, p := range tree {
		waitFor(t, func() bool { return gone(p) })
	}
	_ = long.Wait() // the client sees its connection drop
	if err := sshRun(s, "true").Run(); err == nil {
		t.Error("ssh succeeded after Stop")
	}
}

// Only the generated key logs in, and the client only accepts the
// generated host key: the server is no open door, and the checks the
// production ssh_command relies on are really in force.
func TestServerRefusesOtherKeysAndHosts(t *testing.T) {
	s := ForTest(t)
	dir := t.TempDir()
	other := filepath.Join(dir, "other_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	args := s.SSHArgs()
	for i, a := range args {
		if a == s.KeyFile() {
			args[i] = other
		}
	}
	out, err := exec.Command("ssh", append(args, s.User()+"@"+s.Host(), "true")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("a foreign key logged in: %v %s", err, out)
	}

	emptyKnown := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(emptyKnown, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	args = s.SSHArgs()
	for i, a := range args {
		if a == "UserKnownHostsFile="+s.KnownHostsFile() {
			args[i] = "UserKnownHostsFile=" + emptyKnown
		}
	}
	out, err = exec.Command("ssh", append(args, s.User()+"@"+s.Host(), "true")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Host key verification failed") {
		t.Errorf("an unknown host key was accepted: %v %s", err, out)
	}
}

func gone(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return true
	}
	// A zombie (dead, not yet reaped by its new parent) still answers kill 0.
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || strings.HasPrefix(string(b[i+1:]), " Z ")
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
