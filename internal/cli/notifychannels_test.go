package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/testenv/smtptest"
)

const (
	ntfyTokenSecret = "tk_cli-ntfy-token-never-shown"
	smtpPassSecret  = "cli-smtp-password-never-shown"
	topicPath       = "/cli-topic-never-shown"
)

// httpRecorder keeps every request's path, headers and body.
type httpRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string // "PATH\nHEADERS\n\nBODY"
}

func newHTTPRecorder(t *testing.T) *httpRecorder {
	h := &httpRecorder{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var hdr strings.Builder
		r.Header.Write(&hdr)
		h.mu.Lock()
		h.reqs = append(h.reqs, r.URL.Path+"\n"+hdr.String()+"\n"+string(b))
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *httpRecorder) take(prefix string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out, rest []string
	for _, r := range h.reqs {
		if strings.HasPrefix(r, prefix+"\n") {
			out = append(out, r)
		} else {
			rest = append(rest, r)
		}
	}
	h.reqs = rest
	return out
}

// channelsSandbox is a plan of command targets (one succeeds, one
// fails, one ends with a warning) whose [notify] names an ntfy topic, a
// Slack webhook and an SMTP server (STARTTLS, AUTH), all on loopback.
type channelsSandbox struct {
	plan, dir, state string
	http             *httpRecorder
	mail             *smtptest.Server
	src              string
}

func newChannelsSandbox(t *testing.T) *channelsSandbox {
	requireTool(t, "sh")
	dir := t.TempDir()
	s := &channelsSandbox{dir: dir, plan: filepath.Join(dir, "plan.toml"), state: filepath.Join(dir, "state"), http: newHTTPRecorder(t),
		mail: smtptest.Start(t, smtptest.Options{User: "backup@example.com", Password: smtpPassSecret})}
	tokenFile, passFile := filepath.Join(dir, "ntfy.token"), filepath.Join(dir, "smtp.pass")
	os.WriteFile(tokenFile, []byte(ntfyTokenSecret+"\n"), 0o600)
	os.WriteFile(passFile, []byte(smtpPassSecret+"\n"), 0o600)
	s.src = fmt.Sprintf(`state_dir = %[1]q
[targets.good]
driver = "command"
command = ["printf", "data"]
dir = %[2]q

[targets.fails]
driver = "command"
command = ["sh", "-c", "echo 'the disk is on fire' >&2; exit 1"]
dir = %[2]q

[targets.partial]
driver = "command"
command = ["sh", "-c", "printf data; echo 'could not read locked.epub' >&2; exit 1"]
dir = %[2]q
exit_codes = { warning = [1] }

[plans.nightly]
targets = ["good"]
[plans.broken]
targets = ["good", "fails"]
[plans.partial]
targets = ["partial"]

[notify.ntfy]
url = "%[3]s"
token_file = %[4]q

[notify.webhook]
url = "%[5]s"
format = "slack"

[notify.email]
smtp = %[6]q
ca_file = %[7]q
from = "backup@example.com"
to = ["ops@example.com"]
username = "backup@example.com"
password_file = %[8]q
`, s.state, filepath.Join(dir, "out"), s.http.URL+topicPath, tokenFile, s.http.URL+"/slack", s.mail.Addr, s.mail.CAFile, passFile)
	s.write(t, s.src)
	return s
}

func (s *channelsSandbox) write(t *testing.T, src string) {
	if err := os.WriteFile(s.plan, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

// noChannelSecret fails when a channel's secret shows in any output or
// file the run left.
func noChannelSecret(t *testing.T, dir string, outputs ...string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.HasSuffix(p, ".pass") && !strings.HasSuffix(p, ".token") && p != filepath.Join(dir, "plan.toml") {
			b, _ := os.ReadFile(p)
			outputs = append(outputs, string(b))
		}
		return nil
	})
	for _, o := range outputs {
		for _, sec := range []string{ntfyTokenSecret, smtpPassSecret, strings.TrimPrefix(topicPath, "/")} {
			if strings.Contains(o, sec) {
				t.Fatalf("the secret %q leaked:\n%.2000s", sec, o)
			}
		}
	}
}

// `run` tells people through ntfy, a chat webhook and e-mail when a
// target fails and when one ends with a warning, and keeps quiet on
// success; each message names the plan and the target and carries what
// went wrong; no secret shows anywhere.
func TestRunNotifiesChannels(t *testing.T) {
	s := newChannelsSandbox(t)
	for _, tc := range []struct {
		plan     string
		code     int
		send     bool
		title    string
		priority string
		want     []string
	}{
		{"nightly", 0, false, "", "", nil},
		{"broken", 1, true, "broken on ", "high", []string{"fails (command): failed", "the disk is on fire", "good (command): ok"}},
		{"partial", 3, true, "partial on ", "default", []string{"partial (command): warning", "could not read locked.epub"}},
	} {
		t.Run(tc.plan, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, "run", tc.plan, "--log-level", "info", "-c", s.plan)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			noChannelSecret(t, s.dir, stdout, stderr)
			ntfy, slack, mails := s.http.take(topicPath), s.http.take("/slack"), s.mail.Take()
			if !tc.send {
				if len(ntfy)+len(slack)+len(mails) != 0 {
					t.Fatalf("a success was sent: ntfy %d, slack %d, mails %d", len(ntfy), len(slack), len(mails))
				}
				return
			}
			if len(ntfy) != 1 || len(slack) != 1 || len(mails) != 1 {
				t.Fatalf("ntfy %d, slack %d, mails %d\n%s", len(ntfy), len(slack), len(mails), stderr)
			}
			wantLines(t, "the ntfy request", ntfy[0], append([]string{"Authorization: Bearer " + ntfyTokenSecret, "Priority: " + tc.priority, "Title: alexandria-backup " + tc.title}, tc.want...)...)
			wantLines(t, "the slack request", slack[0], append([]string{`"text":"*alexandria-backup ` + tc.title}, tc.want...)...)
			wantLines(t, "the mail", mails[0].Data, append([]string{"Subject: alexandria-backup " + tc.title}, tc.want...)...)
			if !mails[0].TLS || mails[0].User != "backup@example.com" {
				t.Errorf("mail not over TLS or not authenticated: %+v", mails[0])
			}
			wantLines(t, "stderr", stderr, `msg=notified channel=ntfy`, `msg=notified channel=webhook`, `msg=notified channel=email`)
			// The token went in its header, never in a body or a log.
			noChannelSecret(t, s.dir, strings.SplitN(ntfy[0], "\n\n", 2)[1], slack[0], mails[0].Data)
		})
	}

	// on = ["success"] hears a good run.
	s.write(t, strings.Replace(s.src, "format = \"slack\"\n", "format = \"slack\"\non = [\"success\"]\n", 1))
	if code, _, stderr := runCLI(t, "run", "nightly", "-c", s.plan); code != 0 || len(s.http.take("/slack")) != 1 || len(s.http.take(topicPath)) != 0 {
		t.Fatalf("on = [\"success\"]: exit %d\n%s", code, stderr)
	}
}

// Servers that are down or hang, or a secret file that went missing,
// are warnings naming the channel or key: the run's exit code stays what
// the backup made it, and the run ends within the channels' timeout.
func TestRunChannelProblemsKeepTheExitCode(t *testing.T) {
	old := channelTimeout
	channelTimeout = 500 * time.Millisecond
	t.Cleanup(func() { channelTimeout = old })
	s := newChannelsSandbox(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body: only then does the server see the client go.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	}))
	t.Cleanup(hang.Close)

	down := strings.NewReplacer(s.http.URL+topicPath, "http://"+closed+topicPath, s.http.URL+"/slack", hang.URL+"/slack", s.mail.Addr, closed).Replace(s.src)
	for _, tc := range []struct {
		name, src, plan string
		code            int
		want            []string
	}{
		{"all down, failed run", down, "broken", 1, []string{"channel=ntfy", "connection refused", "channel=webhook", "timed out after 500ms", "channel=email"}},
		{"all down, warning", down, "partial", 3, []string{"channel=ntfy", "channel=webhook", "channel=email"}},
		{"token file missing", strings.Replace(s.src, "ntfy.token", "gone.token", 1), "broken", 1,
			[]string{`msg="cannot notify; the run's outcome is unchanged" error="notify.ntfy.token_file: `, "msg=notified channel=email", "msg=notified channel=webhook"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.write(t, tc.src)
			start := time.Now()
			code, stdout, stderr := runCLI(t, "run", tc.plan, "--log-level", "info", "-c", s.plan)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("the run took %s: the channels' timeout did not hold", took)
			}
			wantLines(t, "stderr", stderr, tc.want...)
			noChannelSecret(t, s.dir, stdout, stderr)
			s.http.take(topicPath)
			s.http.take("/slack")
			s.mail.Take()
		})
	}

	// validate refuses what run only warns about, naming the key.
	s.write(t, strings.Replace(s.src, "smtp.pass", "gone.pass", 1))
	code, _, stderr := runCLI(t, "validate", "-c", s.plan)
	if code != 2 || !strings.Contains(stderr, "notify.email.password_file: ") || !strings.Contains(stderr, "gone.pass") {
		t.Fatalf("validate: exit %d\n%s", code, stderr)
	}
}
