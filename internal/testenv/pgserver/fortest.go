package pgserver

import (
	"context"
	"errors"
	"os"
	"testing"
)

// ForTest starts a server for the duration of test t and registers its
// shutdown and removal with t.Cleanup.
//
// When this machine cannot run PostgreSQL (no initdb/postgres, or root
// without a postgres user) the test is skipped, unless the environment
// variable CI is set: there a missing server is a broken CI image, and a
// silently skipped test would hide it, so the test fails instead.
func ForTest(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs a real PostgreSQL")
	}
	// Not t.TempDir(): it is mode 0700 and owned by root, so the postgres
	// user could not reach anything inside it. A directory of our own
	// directly under the (world-searchable) temp dir can be handed to
	// postgres by Start.
	dir, err := os.MkdirTemp("", "pgserver-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("pgserver: removing %s: %v", dir, err)
		}
	})

	ctx := context.Background()
	s, err := Start(ctx, dir)
	if errors.Is(err, ErrUnavailable) && os.Getenv("CI") == "" {
		t.Skipf("no PostgreSQL server available (set CI to make this fatal): %v", err)
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
			t.Logf("pgserver: server log %s:\n%s", s.LogFile, s.logTail())
		}
	})
	return s
}
