package drivers_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireTool skips a test when a real tool is missing, except under CI,
// where a missing tool is a broken set-up and fails the test.
func requireTool(t *testing.T, names ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test of the real tools")
	}
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not installed (CI must have every tool: run scripts/deps.sh)", n)
			}
			t.Skipf("%s is not installed", n)
		}
	}
}

// writeFile writes content to dir/name, creating parents.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}
