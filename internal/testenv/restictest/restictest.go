// Package restictest leaves in a restic repository the lock a killed
// restic leaves behind, for tests of what is done about such locks. Lock
// files are encrypted with the repository's key and cannot be forged, so
// a real restic makes them.
package restictest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"syscall"
	"testing"
	"time"
)

var resticID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// LockFiles lists the ids of the locks in a local repository: the files
// named by a restic id. A restic killed while writing a lock leaves
// "<id>-tmp-<n>", which restic itself ignores (0.14: `list locks` does not
// show it, backup and check run, unlock leaves it), so it is no lock.
func LockFiles(t testing.TB, repo string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repo, "locks"))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		if resticID.MatchString(e.Name()) {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// PlantLock leaves the lock of a restic killed while holding it, and
// returns its id and the dead restic's pid: `restic backup --stdin` takes
// its lock, then waits for input that never comes, and is SIGKILLed
// (restic 0.14 leaves its lock then). With host set, restic runs in a new
// UTS namespace under that hostname, which only root can do: a real lock
// of another host. The caller sets RESTIC_CACHE_DIR if it cares.
func PlantLock(t testing.TB, repo, passFile, host string) (string, int) {
	t.Helper()
	args := []string{"restic", "backup", "--stdin", "--quiet"}
	if host != "" {
		if os.Geteuid() != 0 {
			t.Skip("a lock of another host needs root: restic runs under `unshare --uts` with its own hostname")
		}
		if _, err := exec.LookPath("hostname"); err != nil {
			t.Skipf("a lock of another host needs hostname(1): %v", err)
		}
		if out, err := exec.Command("unshare", "--uts", "true").CombinedOutput(); err != nil {
			t.Skipf("unshare --uts does not work here: %v %s", err, out)
		}
		args = append([]string{"unshare", "--uts", "sh", "-c", `hostname "$0" && exec "$@"`, host}, args...)
	}
	before := LockFiles(t, repo)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD_FILE="+passFile)
	stdin, err := cmd.StdinPipe() // never written to
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, id := range LockFiles(t, repo) {
			// restic writes the lock under its final name and makes it
			// read-only once written: killed before that, it would leave
			// an unreadable lock, which restic (and the policy) ignore.
			fi, err := os.Stat(filepath.Join(repo, "locks", id))
			if !slices.Contains(before, id) && err == nil && fi.Mode().Perm()&0o222 == 0 {
				// unshare and sh exec: the pid is restic's.
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait() // reaped: its pid is now dead, not a zombie
				return id, cmd.Process.Pid
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("restic never took its lock")
		}
	}
}
