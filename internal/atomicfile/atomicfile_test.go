package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWithModeAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for i, content := range []string{"first\n", "second\n"} {
		if err := Write(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil || string(data) != content {
			t.Fatalf("write %d: %q, %v", i, data, err)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestFailedWriteKeepsTheOldFileAndNoTemporary(t *testing.T) {
	dir := t.TempDir()
	// The rename fails: the destination is a non-empty directory.
	path := filepath.Join(dir, "busy")
	os.MkdirAll(filepath.Join(path, "x"), 0o755)
	if err := Write(path, []byte("new"), 0o644); err == nil {
		t.Fatal("no error")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "busy" {
		t.Errorf("left behind: %v", entries)
	}
}

// The temporary file must never match what readers of the final name look
// for: node_exporter reads *.prom, report listings read *.json.
func TestTemporaryNameNeverMatchesTheFinalGlob(t *testing.T) {
	dir := t.TempDir()
	for _, base := range []string{"alexandria_backup.prom", "state.json"} {
		f, err := os.CreateTemp(dir, tempPattern(base))
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		name := filepath.Base(f.Name())
		glob := "*" + filepath.Ext(base)
		if ok, _ := filepath.Match(glob, name); ok || !strings.HasPrefix(name, ".") {
			t.Errorf("temporary name %q matches %s or is not hidden", name, glob)
		}
	}
}
