package pgserver

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestServerLifecycle(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	s := ForTest(t)
	t.Logf("server ready in %v (pid %d, port %d, socket dir %s)", time.Since(start), s.Pid(), s.Port(), s.Host())

	const db = `books "test"`
	if err := s.CreateDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec(ctx, db, "CREATE TABLE t (n int); INSERT INTO t SELECT generate_series(1, 42)"); err != nil {
		t.Fatal(err)
	}

	// Both ways in must reach the same database.
	for _, connString := range []string{s.ConnString(db), s.URL(db)} {
		conn, err := pgx.Connect(ctx, connString)
		if err != nil {
			t.Fatalf("connect %q: %v", connString, err)
		}
		var n int
		var name string
		err = conn.QueryRow(ctx, "SELECT count(*), current_database() FROM t").Scan(&n, &name)
		conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != 42 || name != db {
			t.Errorf("%q: got count %d in %q, want 42 in %q", connString, n, name, db)
		}
	}

	pid := s.Pid()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	// Signal 0 only checks for existence; the postmaster was reaped by
	// Stop, so the pid must be gone (ESRCH).
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postgres pid %d still exists after Stop (kill 0: %v)", pid, err)
	}
	if _, err := pgx.Connect(ctx, s.ConnString("postgres")); err == nil {
		t.Error("connect succeeded after Stop")
	}
}

func TestConnStringQuoting(t *testing.T) {
	s := &Server{SocketDir: "/tmp/a dir/it's", port: 5433}
	cfg, err := pgx.ParseConfig(s.ConnString("my db"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != s.SocketDir || cfg.Port != 5433 || cfg.Database != "my db" || cfg.User != "postgres" {
		t.Errorf("round trip: host %q port %d db %q user %q", cfg.Host, cfg.Port, cfg.Database, cfg.User)
	}
	cfg, err = pgx.ParseConfig(s.URL("my db"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "127.0.0.1" || cfg.Database != "my db" {
		t.Errorf("URL round trip: host %q db %q", cfg.Host, cfg.Database)
	}
}

func TestFindBinDir(t *testing.T) {
	dir, err := FindBinDir()
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !hasServerBinaries(dir) || strings.HasSuffix(dir, "/") {
		t.Errorf("FindBinDir() = %q", dir)
	}
}
