package rclonetest

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// gone reports whether pid no longer runs an rclone server.
func gone(pid int) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return err != nil || !strings.Contains(string(cmdline), "serve")
}

func TestServeSFTP(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "book.epub"), []byte("chapter one"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := ServeSFTP(t, filepath.Join(dir, "served"))
	if err := os.Rename(filepath.Join(dir, "book.epub"), filepath.Join(s.Dir, "book.epub")); err != nil {
		t.Fatal(err)
	}
	conf := WriteConfig(t, dir, s.SFTPRemote(t, "loop"), CryptRemote(t, "secret", "loop:crypt", "crypt password"))
	if fi, _ := os.Stat(conf); fi.Mode().Perm() != 0o600 {
		t.Errorf("rclone.conf has mode %04o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(conf); strings.Contains(string(b), s.Pass) || strings.Contains(string(b), "crypt password") {
		t.Errorf("a password is stored in clear:\n%s", b)
	}

	out, err := exec.Command("rclone", "--config="+conf, "cat", "loop:book.epub").CombinedOutput()
	if err != nil || string(out) != "chapter one" {
		t.Fatalf("reading through the sftp remote: %v\n%s", err, out)
	}
	// The crypt remote layered on it writes ciphertext under crypt/.
	cmd := exec.Command("rclone", "--config="+conf, "rcat", "secret:note.txt")
	cmd.Stdin = strings.NewReader("plaintext")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("writing through the crypt remote: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(s.Dir, "crypt", "*"))
	if len(files) != 1 || strings.Contains(filepath.Base(files[0]), "note") {
		t.Fatalf("want one file with an encrypted name under crypt/, got %v", files)
	}

	// A wrong password is refused.
	// (Obscuring uses a random IV, so the section is written out here.)
	bad := WriteConfig(t, t.TempDir(), "[loop]\ntype = sftp\nhost = 127.0.0.1\nport = "+strconv.Itoa(s.Port())+
		"\nuser = "+s.User+"\npass = "+Obscure(t, "wrong")+"\n")
	if out, err := exec.Command("rclone", "--config="+bad, "--retries=1", "--low-level-retries=1", "lsf", "loop:").CombinedOutput(); err == nil {
		t.Fatalf("a wrong password was accepted:\n%s", out)
	}

	pid := s.Pid()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
	if !gone(pid) {
		t.Fatalf("rclone serve (pid %d) still runs after Stop", pid)
	}
}

func TestServeRestic(t *testing.T) {
	pid := 0
	t.Cleanup(func() {
		// Registered first, so it runs after the server's own cleanup (LIFO).
		if pid != 0 && !gone(pid) {
			t.Errorf("rclone serve restic (pid %d) outlived its test", pid)
		}
	})
	s := ServeRestic(t, t.TempDir())
	pid = s.Pid()
	if !strings.HasPrefix(s.ResticURL(), "rest:http://alexandria:") || !strings.HasSuffix(s.ResticURL(), "@"+s.Addr+"/") {
		t.Fatalf("ResticURL %q", s.ResticURL())
	}
	url := "http://" + s.Addr + "/config"
	for _, tc := range []struct {
		user, pass string
		want       int
	}{
		{"", "", http.StatusUnauthorized},
		{s.User, "wrong", http.StatusUnauthorized},
		{s.User, s.Pass, http.StatusNotFound}, // authenticated; no repository yet
	} {
		req, _ := http.NewRequest(http.MethodHead, url, nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pass)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("HEAD /config as %q/%q: %d, want %d", tc.user, tc.pass, res.StatusCode, tc.want)
		}
	}
}
