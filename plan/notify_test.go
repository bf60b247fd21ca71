package plan

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/notify"
)

const notifyBase = "[targets.db]\ndriver = \"pg_dump\"\ndatabase = \"a\"\ndir = \"/b\"\n"

const notifyGood = notifyBase + `
[notify.ntfy]
url = "https://ntfy.example.org/backups-t0pic"
token_file = "/etc/ab/ntfy.token"

[notify.email]
smtp = "smtp.example.com:587"
from = "Backups <backup@example.com>"
to = ["ops@example.com", "me@example.org"]
username = "backup@example.com"
password_file = "/etc/ab/smtp.pass"
on = ["failure"]

[notify.webhook]
url = "https://hooks.slack.com/services/T0/B0/s3cret"
format = "slack"
headers = { X-Api-Key = "h3ader-secret" }
on = ["failure", "warning", "success", "failure"]
`

func TestParseNotifyChannels(t *testing.T) {
	p, err := Parse("plan.toml", []byte(notifyGood), env(map[string]string{"TOPIC": "t0pic"}))
	if err != nil {
		t.Fatal(err)
	}
	n := p.Notify
	if n.Ntfy == nil || n.Ntfy.URL != "https://ntfy.example.org/backups-t0pic" || n.Ntfy.TokenFile != "/etc/ab/ntfy.token" || n.Ntfy.On != nil {
		t.Errorf("ntfy: %+v", n.Ntfy)
	}
	if e := n.Email; e == nil || e.SMTP != "smtp.example.com:587" || e.TLS != notify.TLSStartTLS || e.From != `"Backups" <backup@example.com>` ||
		len(e.To) != 2 || e.Username != "backup@example.com" || !slices.Equal(e.On, []string{"failure"}) {
		t.Errorf("email: %+v", n.Email)
	}
	if w := n.Webhook; w == nil || w.Format != "slack" || w.Headers["X-Api-Key"] != "h3ader-secret" || !slices.Equal(w.On, []string{"failure", "warning", "success"}) {
		t.Errorf("webhook: %+v", n.Webhook)
	}
	// The URLs hold their secret in the path, the header an API key:
	// plan secrets like ping_url (the file's mode is checked).
	var keys []string
	for _, s := range p.Secrets {
		keys = append(keys, s.Key)
	}
	for _, k := range []string{"notify.ntfy.url", "notify.webhook.url", "notify.webhook.headers.X-Api-Key"} {
		if !slices.Contains(keys, k) {
			t.Errorf("secrets %v lack %s", keys, k)
		}
	}
	// Every channel defaults: on failure and warning, not success.
	for ev, want := range map[string]bool{notify.OnFailure: true, notify.OnWarning: true, notify.OnSuccess: false} {
		if (&notify.Ntfy{}).Wants(ev) != want {
			t.Errorf("default on %s: %v", ev, !want)
		}
	}
}

// Each hostile shape is a problem naming its key, in the one-pass list.
func TestNotifyChannelProblems(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"channel not a table", "[notify]\nntfy = \"https://ntfy.sh/x\"\n", "notify.ntfy: must be a table: [notify.ntfy]"},
		{"unknown channel", "[notify.slack]\nurl = \"https://x/y\"\n", "notify.slack: unknown key"},
		{"ntfy unknown key", "[notify.ntfy]\nurl = \"https://ntfy.sh/x\"\ntoken = \"tk_x\"\n", "notify.ntfy.token: unknown key: a secret is never written in the plan; put it alone in a file (mode 0600) and set token_file to its path"},
		{"ntfy no url", "[notify.ntfy]\ntoken_file = \"/t\"\n", "notify.ntfy: `url` is required"},
		{"ntfy bare topic", "[notify.ntfy]\nurl = \"mytopic\"\n", `notify.ntfy.url: must be an http(s) URL such as "https://ntfy.sh/TOPIC"`},
		{"ntfy other scheme", "[notify.ntfy]\nurl = \"ftp://ntfy.sh/x\"\n", "notify.ntfy.url: must be an http(s) URL"},
		{"ntfy password in url", "[notify.ntfy]\nurl = \"https://me:pa55@ntfy.sh/x\"\n", "notify.ntfy.url: must not hold a user or password; put an access token in token_file"},
		{"ntfy relative token file", "[notify.ntfy]\nurl = \"https://ntfy.sh/x\"\ntoken_file = \"ntfy.token\"\n", "notify.ntfy.token_file: must be an absolute path"},
		{"on not a list", "[notify.ntfy]\nurl = \"https://ntfy.sh/x\"\non = \"failure\"\n", `notify.ntfy.on: must be a list of events among "failure", "warning", "success"`},
		{"on unknown event", "[notify.ntfy]\nurl = \"https://ntfy.sh/x\"\non = [\"failed\"]\n", "notify.ntfy.on: must be a list of events"},
		{"email unknown key", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\npassword = \"x\"\n", "notify.email.password: unknown key: a secret is never written in the plan; put it alone in a file (mode 0600) and set password_file"},
		{"ntfy typo", "[notify.ntfy]\nurl = \"https://ntfy.sh/x\"\ntoken_fiel = \"/t\"\n", "notify.ntfy.token_fiel: unknown key (did you mean token_file?)"},
		{"email required", "[notify.email]\nsmtp = \"h:587\"\n", "notify.email: `from` is required"},
		{"email no port", "[notify.email]\nsmtp = \"smtp.example.com\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n", "notify.email.smtp: must be the SMTP server as host:port"},
		{"email bad port", "[notify.email]\nsmtp = \"h:99999\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n", "notify.email.smtp: must be the SMTP server as host:port"},
		{"email bad from", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"backup\"\nto = [\"d@e.f\"]\n", "notify.email.from: must be one e-mail address"},
		{"email header injection", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\\nBcc: x@y.z\"\nto = [\"d@e.f\"]\n", "notify.email.from: must be one e-mail address"},
		{"email to a string", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\n", "notify.email.to: must be a non-empty list of e-mail addresses"},
		{"email to empty", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = []\n", "notify.email.to: must be a non-empty list"},
		{"email to bad", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = [\"ops\"]\n", "notify.email.to: ops is not an e-mail address"},
		{"email tls", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\ntls = \"yes\"\n", `notify.email.tls: must be "starttls", "implicit", "none"`},
		{"email user without password", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\nusername = \"u\"\n", "notify.email: `password_file` is required with `username`"},
		{"email password without user", "[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\npassword_file = \"/p\"\n", "notify.email.password_file: is used only with `username`"},
		{"email password in clear", "[notify.email]\nsmtp = \"h:25\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\nusername = \"u\"\npassword_file = \"/p\"\ntls = \"none\"\n", "notify.email.tls: \"none\" would send the SMTP password in clear"},
		{"webhook no url", "[notify.webhook]\nformat = \"slack\"\n", "notify.webhook: `url` is required"},
		{"webhook headers over http", "[notify.webhook]\nurl = \"http://hooks.example.org/x\"\nheaders = { X-Api-Key = \"k\" }\n", "notify.webhook.url: must be https: the channel sends a secret"},
		{"webhook token over http", "[notify.webhook]\nurl = \"http://hooks.example.org/x\"\ntoken_file = \"/t\"\n", "notify.webhook.url: must be https"},
		{"ntfy token over http", "[notify.ntfy]\nurl = \"http://ntfy.example.org/x\"\ntoken_file = \"/t\"\n", "notify.ntfy.url: must be https"},
		{"webhook format", "[notify.webhook]\nurl = \"https://x/y\"\nformat = \"teams\"\n", `notify.webhook.format: must be "json", "slack", "discord", "text"`},
		{"webhook headers not a table", "[notify.webhook]\nurl = \"https://x/y\"\nheaders = [\"X-A: b\"]\n", "notify.webhook.headers: must be a table of header names and values"},
		{"webhook header name", "[notify.webhook]\nurl = \"https://x/y\"\nheaders = { \"X A\" = \"b\" }\n", `notify.webhook.headers."X A": not an HTTP header name`},
		{"webhook header injection", "[notify.webhook]\nurl = \"https://x/y\"\nheaders = { X-A = \"b\\r\\nX-B: c\" }\n", "notify.webhook.headers.X-A: must be a string on one line"},
		{"webhook two Authorizations", "[notify.webhook]\nurl = \"https://x/y\"\ntoken_file = \"/t\"\nheaders = { authorization = \"Basic x\" }\n", "notify.webhook.headers.authorization: conflicts with token_file"},
		{"unset variable", "[notify.ntfy]\nurl = \"https://ntfy.sh/${TOPIC}\"\n", "notify.ntfy.url: environment variable TOPIC is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("plan.toml", []byte(notifyBase+tc.src), env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got:\n%v", tc.want, err)
			}
		})
	}
	// One pass: every problem of the three channels at once, each with its line.
	_, err := Parse("plan.toml", []byte(notifyBase+"[notify.ntfy]\nurl = \"x\"\n[notify.email]\nsmtp = \"h\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\n[notify.webhook]\nurl = \"https://x/y\"\nformat = \"teams\"\n"), env(nil))
	for _, w := range []string{"plan.toml:6: notify.ntfy.url", "plan.toml:8: notify.email.smtp", "plan.toml:13: notify.webhook.format", "(3 problems)"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("want %q in:\n%v", w, err)
		}
	}
}

// The secret files [notify] names are checked as the targets' are:
// validate refuses each one a run could not use, naming the key; a run
// builds the other channels and names the one left out.
func TestNotifySecretFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("tk_s3cret\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("x"), 0o644)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct{ name, file, want string }{
		{"ok", good, ""},
		{"missing", filepath.Join(dir, "missing"), "no such file"},
		{"readable by others", open, "chmod 600"},
		{"empty", empty, "is empty"},
		{"a directory", dir, "is not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := notifyBase + "[notify.ntfy]\nurl = \"https://ntfy.sh/t\"\ntoken_file = \"" + tc.file + "\"\n" +
				"[notify.email]\nsmtp = \"h:587\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\"]\nusername = \"u\"\npassword_file = \"" + tc.file + "\"\n" +
				"[notify.webhook]\nurl = \"https://x/y\"\n"
			p, err := Parse("plan.toml", []byte(src), env(nil))
			if err != nil {
				t.Fatal(err)
			}
			err = p.CheckNotifySecrets()
			chans, secrets, errs := p.Notify.Channels("test")
			if tc.want == "" {
				if err != nil || len(errs) != 0 || len(chans) != 3 || !slices.Contains(secrets, "tk_s3cret") {
					t.Fatalf("check: %v; channels %d, errors %v", err, len(chans), errs)
				}
				return
			}
			for _, w := range []string{"plan.toml:7: notify.ntfy.token_file: ", "plan.toml:13: notify.email.password_file: ", tc.want} {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("want %q in:\n%v", w, err)
				}
			}
			if len(chans) != 1 || chans[0].Name() != "webhook" || len(errs) != 2 ||
				!strings.Contains(errs[0].Error(), "notify.ntfy.token_file: ") || !strings.Contains(errs[1].Error(), "notify.email.password_file: ") {
				t.Errorf("channels %d, errors %v", len(chans), errs)
			}
		})
	}
}

// The stored plan masks the channels' secrets and still loads.
func TestRedactNotifyChannels(t *testing.T) {
	out, err := Redact([]byte(notifyGood))
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	for _, s := range []string{"s3cret", "h3ader-secret", "backups-"} {
		if strings.Contains(text, s) {
			t.Errorf("%q survived:\n%s", s, text)
		}
	}
	if !strings.Contains(text, "smtp.example.com:587") || !strings.Contains(text, "/etc/ab/smtp.pass") {
		t.Errorf("lost what is no secret:\n%s", text)
	}
	if _, err := Parse("stored.toml", out, env(nil)); err != nil {
		t.Errorf("the stored plan does not load: %v\n%s", err, text)
	}
}

// The example plan shows every key of every channel, commented out, and
// those lines, uncommented, make a valid plan.
func TestExampleShowsNotifyChannels(t *testing.T) {
	src, err := os.ReadFile("../alexandria-backup.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(src), "\n") {
		if strings.HasPrefix(line, "# [notify.") {
			in = true
		}
		if in && !strings.HasPrefix(line, "#") {
			break
		}
		if in {
			block = append(block, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
		}
	}
	text := strings.Join(block, "\n")
	for table, keys := range map[string][]string{"ntfy": ntfyKeys, "email": emailKeys, "webhook": webhookKeys} {
		if !strings.Contains(text, "[notify."+table+"]") {
			t.Errorf("the example lacks [notify.%s]", table)
		}
		for _, k := range keys {
			if !regexp.MustCompile(`(?m)^` + k + `\s+=`).MatchString(text) {
				t.Errorf("the example does not show notify.%s.%s", table, k)
			}
		}
	}
	p, err := Parse("example.toml", []byte(notifyBase+text), env(map[string]string{"NTFY_TOPIC": "t", "SLACK_WEBHOOK": "T/B/x", "WEBHOOK_KEY": "k"}))
	if err != nil {
		t.Fatalf("the example's channels do not load: %v\n%s", err, text)
	}
	if p.Notify.Ntfy == nil || p.Notify.Email == nil || p.Notify.Webhook == nil {
		t.Fatalf("channels: %+v", p.Notify)
	}
}
