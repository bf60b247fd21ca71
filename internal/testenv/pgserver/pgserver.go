// Package pgserver runs a throw-away PostgreSQL server for tests and the
// sandbox demo.
//
// The server lives entirely in one directory: the cluster in DIR/data, the
// unix socket and the server log in DIR. It listens on the socket and on
// 127.0.0.1 with a free port, so both pgx and the libpq tools (pg_dump,
// pg_restore) can reach it either way. Durability is switched off (fsync,
// full_page_writes, synchronous_commit) because the data is disposable and
// speed matters more.
//
// initdb and postgres refuse to run as root. When the current user is root
// the directory is handed to the "postgres" system user and both programs run
// with that user's credentials; otherwise they run as the current user.
package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrUnavailable is wrapped by errors from Start (and FindBinDir) when this
// machine cannot run a server at all: initdb/postgres are not installed, or
// we are root and there is no "postgres" user to drop privileges to.
// ForTest skips the test on it.
var ErrUnavailable = errors.New("pgserver: PostgreSQL server binaries or postgres user unavailable")

// startTimeout bounds how long Start waits for the server to accept
// connections. A cold start takes well under a second; 30s leaves room for
// slow CI machines without hanging a test run forever.
const startTimeout = 30 * time.Second

// stopTimeout bounds how long Stop waits after SIGQUIT before it resorts to
// SIGKILL.
const stopTimeout = 10 * time.Second

// Server is a running ephemeral PostgreSQL server. It trusts every local
// connection (initdb --auth=trust), and its superuser is "postgres".
type Server struct {
	// DataDir is the cluster directory (DIR/data).
	DataDir string
	// SocketDir is the directory holding the unix socket (DIR).
	SocketDir string
	// LogFile receives the server's stdout and stderr (DIR/postgres.log).
	LogFile string
	// BinDir is where initdb and postgres were found.
	BinDir string

	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the postgres process has exited

	stopOnce sync.Once
	stopErr  error
}

// Start creates a new cluster in dir/data and starts a server on it. dir is
// created if needed; dir/data must not exist yet or be empty.
//
// The server is killed (SIGKILL via Pdeathsig) if the calling process dies,
// so a crashed test binary does not leak it; still, call Stop when done.
func Start(ctx context.Context, dir string) (*Server, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgserver: %w", err)
	}
	if cred != nil {
		// The server needs to own its data directory and write its socket
		// and lock file into dir. Every parent of dir must also be
		// searchable by that user; t.TempDir() (mode 0700, root) is not,
		// which is why ForTest makes its own directory.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("pgserver: %w", err)
		}
	}

	s := &Server{
		DataDir:   filepath.Join(dir, "data"),
		SocketDir: dir,
		LogFile:   filepath.Join(dir, "postgres.log"),
		BinDir:    binDir,
	}
	if err := s.initdb(ctx, cred); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// Picking a free port and binding it later is racy: another process
	// may grab it in between. postgres then exits with "could not bind";
	// try again with a fresh port a few times before giving up.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.port = port
		// A unix socket path is limited to 107 bytes (sun_path); postgres
		// would fail with a less obvious message.
		if sock := filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port)); len(sock) > 107 {
			return nil, fmt.Errorf("pgserver: socket path %s is longer than 107 bytes; use a shorter directory", sock)
		}
		err = s.start(ctx, cred)
		if err == nil {
			return s, nil
		}
		if attempt >= 3 || !strings.Contains(s.logTail(), "could not bind") {
			return nil, err
		}
	}
}

// initdb creates the cluster. --no-sync because nothing here must survive a
// crash; trust authentication because only local test clients connect.
func (s *Server) initdb(ctx context.Context, cred *syscall.Credential) error {
	cmd := exec.CommandContext(ctx, filepath.Join(s.BinDir, "initdb"),
		"--no-sync", "--auth=trust", "--username=postgres",
		"--encoding=UTF8", "--locale=C", "--pgdata="+s.DataDir)
	s.setupCmd(cmd, cred)
	out, err := cmd.CombinedOutput()
	if err != nil {
		hint := ""
		if cred != nil {
			hint = fmt.Sprintf(" (it runs as uid %d; every parent directory of %s must be searchable by it)", cred.Uid, s.SocketDir)
		}
		return fmt.Errorf("pgserver: initdb failed%s: %w\n%s", hint, err, tail(out, 20))
	}
	return nil
}

// start launches postgres on s.port and waits until it accepts connections.
func (s *Server) start(ctx context.Context, cred *syscall.Credential) error {
	logf, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	defer logf.Close() // the child holds its own copy of the descriptor

	// Not CommandContext: the server must outlive ctx (which only bounds
	// the start-up); Stop ends it.
	cmd := exec.Command(filepath.Join(s.BinDir, "postgres"),
		"-D", s.DataDir,
		"-p", strconv.Itoa(s.port),
		"-k", s.SocketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off",
		// Keep the log readable for the error messages below.
		"-c", "logging_collector=off",
	)
	s.setupCmd(cmd, cred)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// If this process dies without calling Stop, the kernel kills the
	// server. Go applies Pdeathsig after switching credentials, so the
	// setuid does not clear it.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgserver: starting postgres: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	if err := s.waitReady(ctx); err != nil {
		s.kill()
		return fmt.Errorf("%w\nserver log (%s):\n%s", err, s.LogFile, s.logTail())
	}
	return nil
}

// waitReady polls until a connection over the unix socket succeeds. The
// socket lives in our own directory, so unlike the TCP port it cannot reach
// some other server by accident.
func (s *Server) waitReady(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(s.ConnString("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = time.Second
	var lastErr error
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn.Close(ctx)
		}
		lastErr = err
		select {
		case <-s.done:
			return fmt.Errorf("pgserver: postgres exited during start-up: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("pgserver: server not ready: %w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// setupCmd gives initdb and postgres a small, predictable environment and,
// as root, the postgres user's credentials. Inheriting PGDATA, PGPORT, LANG
// etc. from the caller would only make runs differ between machines.
func (s *Server) setupCmd(cmd *exec.Cmd, cred *syscall.Credential) {
	cmd.Dir = s.SocketDir // postgres complains if its cwd is unreadable
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + s.SocketDir,
		"LC_ALL=C",
		"LANG=C",
	}
	if tz, ok := os.LookupEnv("TZ"); ok {
		cmd.Env = append(cmd.Env, "TZ="+tz)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
}

// serverCredential returns the credential to run the server with: nil when
// we are not root (run as ourselves), else the postgres user's.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root and %v", ErrUnavailable, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgserver: postgres gid %q: %w", u.Gid, err)
	}
	// No supplementary groups: the server needs none, and an empty list
	// drops root's.
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// FindBinDir returns the directory holding initdb and postgres: the one of
// the initdb found in PATH (symlinks resolved, since Debian links single
// programs into /usr/local/bin or similar), else the highest-versioned
// /usr/lib/postgresql/*/bin (Debian does not put initdb in PATH).
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if target, err := filepath.EvalSymlinks(p); err == nil {
			if dir := filepath.Dir(target); hasServerBinaries(dir) {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Sort by numeric major version, highest first ("9.6" < "15").
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w: initdb not found in PATH or /usr/lib/postgresql/*/bin", ErrUnavailable)
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// freePort asks the kernel for an unused loopback TCP port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgserver: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Stop shuts the server down with SIGQUIT (immediate shutdown: no
// checkpoint, nothing worth keeping) and waits for it to exit, killing it
// if it takes longer than 10s. It is safe to call more than once; later
// calls return the first call's result. The directory is left in place.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			return // already gone
		default:
		}
		if err := s.cmd.Process.Signal(syscall.SIGQUIT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("pgserver: stopping postgres: %w", err)
		}
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			s.kill()
			s.stopErr = fmt.Errorf("pgserver: postgres did not stop within %v after SIGQUIT; killed it", stopTimeout)
		}
	})
	return s.stopErr
}

// kill ends the server with SIGKILL and waits for it. Its child processes
// notice the postmaster is gone and exit by themselves.
func (s *Server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Pid returns the process id of the postmaster.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Host returns the unix socket directory, usable as libpq/pgx "host".
func (s *Server) Host() string { return s.SocketDir }

// Port returns the TCP port, which is also the socket's port number.
func (s *Server) Port() int { return s.port }

// URL returns a connection URL for database db over TCP on 127.0.0.1, the
// form a user would put into a plan file.
func (s *Server) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// ConnString returns a keyword/value connection string for database db over
// the unix socket.
func (s *Server) ConnString(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s",
		quoteValue(s.SocketDir), s.port, quoteValue(db))
}

// quoteValue quotes a keyword/value connection string value when needed,
// following libpq's rules (single quotes, backslash escapes).
func quoteValue(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`+"\t\n\r") {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// CreateDatabase creates database name. CREATE DATABASE takes no bind
// parameters, so the name is quoted with pgx.Identifier.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	return s.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
}

// Exec runs sql (one or more statements, no parameters) in database db as
// the postgres superuser.
func (s *Server) Exec(ctx context.Context, db, sql string) error {
	conn, err := pgx.Connect(ctx, s.ConnString(db))
	if err != nil {
		return fmt.Errorf("pgserver: connecting to %q: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgserver: %w", err)
	}
	return nil
}

// logTail returns the last lines of the server log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return tail(b, 20)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
