// Package sshtest runs a throw-away OpenSSH server on 127.0.0.1 for tests
// of tools that reach a remote host over ssh (rsync, restic/rclone sftp).
//
// Everything lives in one directory: a fresh host key and client key
// (ed25519, no passphrase), the authorized_keys and known_hosts files, the
// server's configuration, pid file and log. Only that client key can log
// in, only as the current user (root included: PermitRootLogin
// prohibit-password), and the client verifies the host key strictly, so a
// test exercises the same path a production `ssh -i KEY` does.
package sshtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrUnavailable is wrapped by errors from Start when this machine cannot
// run a server at all (sshd, ssh or ssh-keygen is not installed). ForTest
// skips the test on it.
var ErrUnavailable = errors.New("sshtest: OpenSSH server or client unavailable")

// SSHD is the server program. sshd re-executes itself for every
// connection and insists on an absolute path.
var SSHD = "/usr/sbin/sshd"

// privsepDir is where sshd, started as root, chroots its unprivileged
// child. Debian's openssh-server creates it at boot (systemd
// RuntimeDirectory), so it is missing in containers that never ran the
// service.
const privsepDir = "/run/sshd"

const (
	startTimeout = 15 * time.Second
	stopTimeout  = 5 * time.Second
)

// Server is a running sshd.
type Server struct {
	// Dir holds the keys, configuration, pid file and log.
	Dir string

	port       int
	user       string
	keyFile    string
	knownHosts string
	logFile    string
	cmd        *exec.Cmd
	done       chan struct{} // closed when sshd has exited

	stopOnce sync.Once
	stopErr  error
}

// ForTest starts a server for the duration of test t and stops it (and
// every session it started) in t.Cleanup.
//
// When this machine has no OpenSSH the test is skipped, unless the
// environment variable CI is set: there a missing sshd is a broken CI
// image, and a skipped test would hide it.
func ForTest(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs a real sshd")
	}
	// Not t.TempDir(): its path contains the test name, and ssh_command
	// strings built from it must stay free of spaces and quotes.
	dir, err := os.MkdirTemp("", "sshtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("sshtest: removing %s: %v", dir, err)
		}
	})
	s, err := Start(dir)
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("no sshd available (set CI to make this fatal): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Registered after the removal, so it runs before it (LIFO).
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("sshtest: sshd log %s:\n%s", s.logFile, s.LogTail())
		}
	})
	return s
}

// Start generates keys and configuration in dir (created if needed) and
// starts sshd on a free loopback port. Call Stop when done; if this process
// dies first, the kernel kills sshd (Pdeathsig).
func Start(dir string) (*Server, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(dir, " \t\n'\"\\") {
		// SSHCommand is split into words by rsync, which knows quotes
		// but no backslashes; keep it simple.
		return nil, fmt.Errorf("sshtest: directory %q must not contain spaces, quotes or backslashes", dir)
	}
	if fi, err := os.Stat(SSHD); err != nil || fi.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("%w: %s is not installed", ErrUnavailable, SSHD)
	}
	for _, prog := range []string{"ssh", "ssh-keygen"} {
		if _, err := exec.LookPath(prog); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(privsepDir, 0o755); err != nil {
			return nil, fmt.Errorf("sshtest: creating sshd's privilege separation directory: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sshtest: %w", err)
	}
	s := &Server{
		Dir:        dir,
		user:       u.Username,
		keyFile:    filepath.Join(dir, "id_ed25519"),
		knownHosts: filepath.Join(dir, "known_hosts"),
		logFile:    filepath.Join(dir, "sshd.log"),
	}
	hostKey := filepath.Join(dir, "host_ed25519")
	for _, key := range []string{hostKey, s.keyFile} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sshtest", "-f", key).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sshtest: ssh-keygen: %v: %s", err, out)
		}
	}
	clientPub, err := os.ReadFile(s.keyFile + ".pub")
	if err != nil {
		return nil, err
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, clientPub, 0o600); err != nil {
		return nil, err
	}

	// Picking a free port and binding it later is racy: another process
	// may take it in between. sshd then exits with "Address already in
	// use"; try again with a fresh port a few times.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		// The client knows exactly this server's key for exactly this
		// port: StrictHostKeyChecking=yes then proves we reached our sshd.
		known := fmt.Sprintf("[127.0.0.1]:%d %s", s.port, hostPub)
		if err := os.WriteFile(s.knownHosts, []byte(known), 0o600); err != nil {
			return nil, err
		}
		config := filepath.Join(dir, "sshd_config")
		if err := os.WriteFile(config, []byte(s.config(hostKey, authorized)), 0o600); err != nil {
			return nil, err
		}
		err = s.start(config)
		if err == nil {
			return s, nil
		}
		if attempt >= 3 || !strings.Contains(s.LogTail(), "Address already in use") {
			return nil, err
		}
	}
}

// config is sshd_config for one test server: public keys only, only the
// current user, nothing read from /etc/ssh.
func (s *Server) config(hostKey, authorized string) string {
	lines := []string{
		"Port " + strconv.Itoa(s.port),
		"ListenAddress 127.0.0.1",
		"AddressFamily inet",
		"HostKey " + hostKey,
		"PidFile " + filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorized,
		"AuthenticationMethods publickey",
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		// Tests run as root in CI containers; keys only, as in production.
		"PermitRootLogin prohibit-password",
		"AllowUsers " + s.user,
		// No PAM: no /etc/pam.d dependency, and sshd can run as non-root.
		"UsePAM no",
		// The key files live in a temp dir whose ownership sshd would
		// otherwise second-guess.
		"StrictModes no",
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		// For tools that speak sftp (restic, rclone); needs no binary.
		"Subsystem sftp internal-sftp",
		"LogLevel VERBOSE",
	}
	return strings.Join(lines, "\n") + "\n"
}

// start runs sshd in the foreground (-D) with its log on stderr (-e) and
// waits until it listens.
func (s *Server) start(config string) error {
	logf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sshtest: %w", err)
	}
	defer logf.Close() // sshd holds its own copy
	cmd := exec.Command(SSHD, "-D", "-e", "-f", config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("sshtest: starting sshd: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	// sshd logs this line after bind() and listen() succeeded, so the
	// port is ours, not some other server's.
	ready := fmt.Sprintf("Server listening on 127.0.0.1 port %d", s.port)
	deadline := time.After(startTimeout)
	for {
		if b, _ := os.ReadFile(s.logFile); bytes.Contains(b, []byte(ready)) {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("sshtest: sshd exited during start-up (%v): %s", cmd.ProcessState, s.LogTail())
		case <-deadline:
			s.kill()
			return fmt.Errorf("sshtest: sshd not listening after %v: %s", startTimeout, s.LogTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop ends sshd and every process it started. The per-connection sshd
// processes put themselves in new sessions and would outlive a signal to
// the listener alone, so the tree is stopped from the leaves up: each
// process is then reaped by its own parent, which matters where PID 1 does
// not reap orphans (many containers), and nothing is left behind, not even
// a zombie. Safe to call more than once.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		levels := descendants(s.cmd.Process.Pid)
		for i := len(levels) - 1; i >= 0; i-- {
			stopAll(levels[i])
		}
		select {
		case <-s.done:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			s.kill()
			s.stopErr = fmt.Errorf("sshtest: sshd did not stop within %v after SIGTERM; killed it", stopTimeout)
		}
	})
	return s.stopErr
}

func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// stopAll sends SIGTERM to pids, waits a moment for them to be gone, and
// kills what is left.
func stopAll(pids []int) {
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(2 * time.Second)
	for _, p := range pids {
		for syscall.Kill(p, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// descendants lists the processes below pid by depth: its children, their
// children, and so on, from the parent of every process in /proc.
func descendants(pid int) [][]int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := ppid(p); ok {
			parent[p] = pp
		}
	}
	var levels [][]int
	for frontier := []int{pid}; len(frontier) > 0; {
		var next []int
		for p, pp := range parent {
			if slices.Contains(frontier, pp) {
				next = append(next, p)
			}
		}
		if len(next) > 0 {
			levels = append(levels, next)
		}
		frontier = next
	}
	return levels
}

// ppid reads the parent pid from /proc/PID/stat ("pid (comm) state ppid
// ..."; comm may contain spaces and parentheses, so cut at the last ')').
func ppid(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// SSHCommand is the ssh invocation that reaches this server, as one string
// for rsync's --rsh (ssh_command) or RSYNC_RSH: this server's port and key,
// its host key pinned, no prompts, no ssh_config files or agent keys.
func (s *Server) SSHCommand() string {
	return strings.Join(append([]string{"ssh"}, s.SSHArgs()...), " ")
}

// SSHArgs are SSHCommand's options as separate words, for running ssh
// directly: append "USER@HOST" and the remote command.
func (s *Server) SSHArgs() []string {
	return []string{
		"-F", "none",
		"-p", strconv.Itoa(s.port),
		"-i", s.keyFile,
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + s.knownHosts,
		"-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes",
		"-o", "ConnectTimeout=10",
	}
}

// User is the user the client key logs in as: the current user.
func (s *Server) User() string { return s.user }

// Host is the address sshd listens on.
func (s *Server) Host() string { return "127.0.0.1" }

// Port is sshd's TCP port.
func (s *Server) Port() int { return s.port }

// KeyFile is the client's private key (its public half is in
// KeyFile()+".pub").
func (s *Server) KeyFile() string { return s.keyFile }

// KnownHostsFile holds this server's host key for [127.0.0.1]:Port.
func (s *Server) KnownHostsFile() string { return s.knownHosts }

// Pid is the listening sshd's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// LogTail returns the last lines of sshd's log, for error messages.
func (s *Server) LogTail() string {
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// freePort asks the kernel for an unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("sshtest: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
