// Package rclonetest runs real rclone servers on loopback for tests:
// `rclone serve sftp` (a remote for the rclone driver) and `rclone serve
// restic` (a REST repository for the restic driver), each over a temporary
// directory, with a user and password, stopped when the test ends.
package rclonetest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds the wait for a server to accept connections; it
	// takes well under a second (sftp generates host keys on first use).
	startTimeout = 20 * time.Second
	// stopTimeout is how long a server gets after SIGTERM before SIGKILL.
	stopTimeout = 5 * time.Second
)

// Server is a running `rclone serve`.
type Server struct {
	Addr string // 127.0.0.1:PORT
	Dir  string // the directory served
	User string
	Pass string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  *syncBuffer   // what the server printed
}

// syncBuffer is a bytes.Buffer the server's output can be written to while
// a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Require skips the test when rclone is not installed, unless CI is set:
// there a missing tool is a broken image and must fail, not hide.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test of the real rclone")
	}
	if _, err := exec.LookPath("rclone"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("rclone is not installed (CI must have every tool)")
		}
		t.Skip("rclone is not installed")
	}
}

// ServeSFTP serves dir over SFTP on 127.0.0.1 with user "alexandria" and a
// password.
func ServeSFTP(t testing.TB, dir string) *Server {
	t.Helper()
	state := t.TempDir()
	keys := filepath.Join(state, "authorized_keys")
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return serve(t, "sftp", dir,
		// Host keys are generated under the cache dir: keep them out of ~.
		"--cache-dir="+filepath.Join(state, "cache"),
		"--authorized-keys="+keys,
		// A long-lived rclone server remembers each file's hash for as long
		// as its size and mtime stay the same, so it would not notice a byte
		// changed behind its back (tests do exactly that). A real sftp
		// server hashes afresh each time; so does this one when its
		// directory cache expires at once.
		"--dir-cache-time=1ms")
}

// ServeRestic serves dir as a restic REST server on 127.0.0.1, with HTTP
// basic authentication as user "alexandria" and a password.
func ServeRestic(t testing.TB, dir string) *Server {
	t.Helper()
	return serve(t, "restic", dir, "--cache-dir="+filepath.Join(t.TempDir(), "cache"))
}

// ResticURL is the restic repository URL of a restic server, credentials
// included.
func (s *Server) ResticURL() string {
	return fmt.Sprintf("rest:http://%s:%s@%s/", s.User, s.Pass, s.Addr)
}

// Port is the server's TCP port.
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr)
	n, _ := strconv.Atoi(p)
	return n
}

// serve starts `rclone serve KIND`, on a free port, and waits until it
// accepts connections. Another process can take the port between our
// probe and rclone's bind, so a server that dies at once is retried on a
// new port.
func serve(t testing.TB, kind, dir string, extra ...string) *Server {
	t.Helper()
	Require(t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s := &Server{Addr: freeAddr(t), Dir: dir, User: "alexandria", Pass: "loopback-" + strconv.Itoa(os.Getpid()),
			done: make(chan struct{}), log: &syncBuffer{}}
		args := append([]string{"serve", kind, "--addr=" + s.Addr, "--user=" + s.User, "--pass=" + s.Pass,
			"--config=" + os.DevNull, "--log-format="}, extra...)
		s.cmd = exec.Command("rclone", append(args, "--", dir)...)
		s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
		// Its own process group, so Stop reaches anything it starts; and
		// killed by the kernel if the test binary dies first.
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		if lastErr = s.waitReady(); lastErr == nil {
			t.Cleanup(func() {
				if err := s.Stop(); err != nil {
					t.Error(err)
				}
			})
			return s
		}
		s.Stop()
	}
	t.Fatalf("rclone serve %s: %v", kind, lastErr)
	return nil
}

// freeAddr finds a port nothing listens on.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("exited before accepting connections: %s", strings.TrimSpace(s.log.String()))
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("not accepting connections on %s after %s", s.Addr, startTimeout)
}

// Stop ends the server: SIGTERM to its process group, then SIGKILL if it
// has not exited in time. It returns only once the process is gone, and is
// safe to call twice.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil // already stopped: its pid may belong to someone else now
	default:
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("rclone serve (pid %d) ignored SIGTERM for %s and was killed", pid, stopTimeout)
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Log is what the server printed so far.
func (s *Server) Log() string { return s.log.String() }

// Obscure returns rclone's obscured form of a password, as rclone.conf
// stores it. The password goes to `rclone obscure -` on stdin, not argv.
// (Obscuring is reversible: it hides a password from a glance, no more.)
func Obscure(t testing.TB, password string) string {
	t.Helper()
	Require(t)
	cmd := exec.Command("rclone", "obscure", "--config="+os.DevNull, "-")
	cmd.Stdin = strings.NewReader(password)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rclone obscure: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// SFTPRemote is an rclone.conf section defining remote name as this SFTP
// server.
func (s *Server) SFTPRemote(t testing.TB, name string) string {
	t.Helper()
	return fmt.Sprintf("[%s]\ntype = sftp\nhost = 127.0.0.1\nport = %d\nuser = %s\npass = %s\n",
		name, s.Port(), s.User, Obscure(t, s.Pass))
}

// CryptRemote is an rclone.conf section defining remote name as a crypt
// remote storing its encrypted files in wrapped (a remote path such as
// "loop:crypt" or a local directory).
func CryptRemote(t testing.TB, name, wrapped, password string) string {
	t.Helper()
	return fmt.Sprintf("[%s]\ntype = crypt\nremote = %s\npassword = %s\n", name, wrapped, Obscure(t, password))
}

// WriteConfig writes an rclone.conf of the given sections to dir, mode
// 0600, and returns its path.
func WriteConfig(t testing.TB, dir string, sections ...string) string {
	t.Helper()
	path := filepath.Join(dir, "rclone.conf")
	if err := os.WriteFile(path, []byte(strings.Join(sections, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
