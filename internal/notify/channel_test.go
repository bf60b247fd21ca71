package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/notify"
	"github.com/alexandria-backup/alexandria-backup/internal/testenv/smtptest"
)

// Secrets a channel holds: none may reach a payload's body or a log.
const (
	ntfyToken    = "tk_ntfy-token-never-shown"
	webhookToken = "webhook-token-never-shown"
	smtpPassword = "smtp-password-never-shown"
	topicSecret  = "topic-path-never-shown"
)

type request struct {
	Path   string
	Header http.Header
	Body   string
}

// receiver is an HTTP server on loopback keeping every request.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, handle func(w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{r.URL.Path, r.Header.Clone(), string(b)})
		rc.mu.Unlock()
		if handle != nil {
			handle(w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) take(path string) []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out, rest []request
	for _, r := range rc.reqs {
		if r.Path == path {
			out = append(out, r)
		} else {
			rest = append(rest, r)
		}
	}
	rc.reqs = rest
	return out
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// message is a run of plan "nightly" whose target "database" failed and
// whose target "library" ended with a warning.
func message(event, status string, exit int) notify.Message {
	return notify.Message{Event: event, Plan: "nightly", Host: "backup-host", Status: status, ExitCode: exit,
		FailedTargets: []string{"database"},
		Summary: "alexandria-backup run nightly on backup-host: " + status + "\n  database (pg_dump): failed\n    error: pg_dump exited 1: connection refused\n" +
			"  library (restic): warning\n    warning: restic could not read /srv/library/locked.epub\n",
		Log: []byte(strings.Repeat("level=INFO msg=\"filler line ü\"\n", 3000) + "level=ERROR msg=\"the last line\"\n")}
}

// Every channel, each on each outcome: failure and warning go by
// default, success only when `on` says so; each payload names the plan,
// the failed target and the warning, within the server's size limit,
// and carries no secret but in the header meant for it.
func TestChannelsSendEachOutcome(t *testing.T) {
	rc := newReceiver(t, nil)
	mail := smtptest.Start(t, smtptest.Options{User: "backup@example.com", Password: smtpPassword})
	base := rc.URL
	chans := []notify.Channel{
		&notify.Ntfy{URL: mustURL(t, base+"/"+topicSecret), Token: ntfyToken},
		&notify.Webhook{URL: mustURL(t, base+"/json"), Token: webhookToken, Headers: map[string]string{"X-Extra": "yes"}},
		&notify.Webhook{URL: mustURL(t, base+"/slack"), Format: notify.FormatSlack},
		&notify.Webhook{URL: mustURL(t, base+"/discord"), Format: notify.FormatDiscord},
		&notify.Webhook{URL: mustURL(t, base+"/text"), Format: notify.FormatText, On: []string{"failure", "warning", "success"}},
		&notify.Email{Server: mail.Addr, CAFile: mail.CAFile, From: "backup@example.com", To: []string{"ops@example.com", "me@example.org"},
			Username: "backup@example.com", Password: smtpPassword},
	}
	secrets := []string{ntfyToken, webhookToken, smtpPassword, topicSecret}

	for _, tc := range []struct {
		event, status string
		exit          int
		want          bool // the default channels send
	}{
		{notify.OnFailure, "failed", 1, true},
		{notify.OnFailure, "interrupted", 143, true},
		{notify.OnWarning, "warning", 3, true},
		{notify.OnSuccess, "ok", 0, false},
	} {
		t.Run(tc.status, func(t *testing.T) {
			var log bytes.Buffer
			m := message(tc.event, tc.status, tc.exit)
			sent := notify.SendAll(context.Background(), chans, m, 10*time.Second, slog.New(slog.NewTextHandler(&log, nil)), secrets)
			if strings.Contains(log.String(), "could not notify") {
				t.Fatalf("a channel failed:\n%s", log.String())
			}
			if got := len(rc.take("/text")); got != 1 {
				t.Errorf("the text webhook (on success too) got %d requests", got)
			}
			ntfy, js, slack, discord := rc.take("/"+topicSecret), rc.take("/json"), rc.take("/slack"), rc.take("/discord")
			mails := mail.Take()
			if !tc.want {
				if len(ntfy)+len(js)+len(slack)+len(discord) != 0 || len(mails) != 0 || len(sent) != 1 {
					t.Fatalf("a success reached channels not set to hear it: sent %v, %d mails", sent, len(mails))
				}
				return
			}
			if len(ntfy) != 1 || len(js) != 1 || len(slack) != 1 || len(discord) != 1 || len(sent) != 6 {
				t.Fatalf("sent %v; requests ntfy %d json %d slack %d discord %d", sent, len(ntfy), len(js), len(slack), len(discord))
			}
			title := "alexandria-backup nightly on backup-host: " + tc.status
			wantIn := func(what, body string, limit int) {
				t.Helper()
				for _, w := range []string{"nightly", "database", "pg_dump exited 1", "could not read /srv/library/locked.epub"} {
					if !strings.Contains(body, w) {
						t.Errorf("%s lacks %q:\n%.600s", what, w, body)
					}
				}
				for _, s := range secrets {
					if strings.Contains(body, s) {
						t.Errorf("%s holds the secret %q", what, s)
					}
				}
				if len(body) > limit {
					t.Errorf("%s is %d bytes, over %d", what, len(body), limit)
				}
			}

			// ntfy: the body is the message; Title, Priority, Tags; the token as Bearer.
			n := ntfy[0]
			wantIn("the ntfy message", n.Body, 4096)
			wantPrio := map[string]string{notify.OnFailure: "high", notify.OnWarning: "default"}[tc.event]
			if !strings.HasPrefix(n.Header.Get("Title"), title) || n.Header.Get("Priority") != wantPrio ||
				!strings.Contains(n.Header.Get("Tags"), "nightly") || n.Header.Get("Authorization") != "Bearer "+ntfyToken {
				t.Errorf("ntfy headers: %v", n.Header)
			}
			if !strings.Contains(n.Body, `msg="the last line"`) {
				t.Errorf("the ntfy message lacks the log's tail:\n%s", n.Body)
			}

			// JSON: this tool's object.
			var p notify.WebhookPayload
			if err := json.Unmarshal([]byte(js[0].Body), &p); err != nil {
				t.Fatalf("json webhook: %v\n%s", err, js[0].Body)
			}
			wantIn("the json webhook", p.Text, 64<<10)
			if p.Plan != "nightly" || p.Status != tc.status || p.Event != tc.event || p.ExitCode != tc.exit ||
				len(p.FailedTargets) != 1 || p.FailedTargets[0] != "database" || !strings.HasPrefix(p.Title, title) {
				t.Errorf("json webhook payload: %+v", p)
			}
			if js[0].Header.Get("Authorization") != "Bearer "+webhookToken || js[0].Header.Get("X-Extra") != "yes" {
				t.Errorf("json webhook headers: %v", js[0].Header)
			}

			// Slack and Discord: their incoming-webhook shapes.
			var sl struct{ Text string }
			if err := json.Unmarshal([]byte(slack[0].Body), &sl); err != nil || !strings.HasPrefix(sl.Text, "*"+title) {
				t.Fatalf("slack payload: %v\n%.300s", err, slack[0].Body)
			}
			wantIn("the slack text", sl.Text, 4000)
			var dc struct {
				Content         string
				AllowedMentions struct{ Parse []string } `json:"allowed_mentions"`
			}
			if err := json.Unmarshal([]byte(discord[0].Body), &dc); err != nil || !strings.HasPrefix(dc.Content, "**"+title) {
				t.Fatalf("discord payload: %v\n%.300s", err, discord[0].Body)
			}
			if n := len([]rune(dc.Content)); n > 2000 {
				t.Errorf("discord content of %d characters", n)
			}
			wantIn("the discord content", dc.Content, 4*2000)

			// E-mail: over STARTTLS, authenticated, to each recipient.
			if len(mails) != 1 {
				t.Fatalf("%d mails", len(mails))
			}
			ml := mails[0]
			if !ml.TLS || ml.User != "backup@example.com" || ml.From != "backup@example.com" || strings.Join(ml.To, ",") != "ops@example.com,me@example.org" {
				t.Errorf("mail: %+v", ml)
			}
			if !strings.Contains(ml.Data, "Subject: "+title) {
				t.Errorf("mail subject:\n%.600s", ml.Data)
			}
			wantIn("the mail", ml.Data, 200<<10)
			for _, s := range secrets {
				if strings.Contains(log.String(), s) {
					t.Errorf("the log holds the secret %q:\n%s", s, log.String())
				}
			}
		})
	}
}

// A server that is down, hangs, refuses the message or fails TLS is a
// warning naming the channel, with no secret in it, within the timeout;
// the other channels still go.
func TestChannelProblemsAreBoundedWarnings(t *testing.T) {
	good := newReceiver(t, nil)
	hang := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(20 * time.Second):
		}
	})
	refuse := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such topic "+r.URL.Path, http.StatusForbidden)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	starttls := smtptest.Start(t, smtptest.Options{User: "u", Password: smtpPassword})
	plain := smtptest.Start(t, smtptest.Options{NoTLS: true, User: "u", Password: smtpPassword})
	secrets := []string{ntfyToken, smtpPassword, topicSecret}

	for _, tc := range []struct {
		name string
		ch   notify.Channel
		want string
	}{
		{"ntfy down", &notify.Ntfy{URL: mustURL(t, "http://"+closed+"/"+topicSecret), Token: ntfyToken}, "connection refused"},
		{"ntfy hangs", &notify.Ntfy{URL: mustURL(t, hang.URL+"/"+topicSecret), Token: ntfyToken}, "timed out after 500ms"},
		{"webhook 403", &notify.Webhook{URL: mustURL(t, refuse.URL+"/"+topicSecret), Token: ntfyToken}, "403 Forbidden"},
		{"smtp down", &notify.Email{Server: closed, From: "a@b.c", To: []string{"d@e.f"}, Username: "u", Password: smtpPassword}, "connection refused"},
		{"smtp untrusted certificate", &notify.Email{Server: starttls.Addr, From: "a@b.c", To: []string{"d@e.f"}, Username: "u", Password: smtpPassword}, "certificate"},
		{"smtp without STARTTLS", &notify.Email{Server: plain.Addr, CAFile: plain.CAFile, From: "a@b.c", To: []string{"d@e.f"}, Username: "u", Password: smtpPassword}, "STARTTLS"},
		{"smtp wrong password", &notify.Email{Server: starttls.Addr, CAFile: starttls.CAFile, From: "a@b.c", To: []string{"d@e.f"}, Username: "u", Password: "wrong-" + smtpPassword}, "SMTP AUTH failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			others := &notify.Webhook{URL: mustURL(t, good.URL+"/other")}
			start := time.Now()
			sent := notify.SendAll(context.Background(), []notify.Channel{tc.ch, others}, message(notify.OnFailure, "failed", 1),
				500*time.Millisecond, slog.New(slog.NewTextHandler(&log, nil)), secrets)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			out := log.String()
			if !strings.Contains(out, "could not notify; the run's outcome is unchanged") || !strings.Contains(out, "channel="+tc.ch.Name()) || !strings.Contains(out, tc.want) {
				t.Errorf("log lacks the warning with %q:\n%s", tc.want, out)
			}
			for _, s := range append(secrets, "wrong-"+smtpPassword) {
				if strings.Contains(out, s) {
					t.Errorf("the log holds %q:\n%s", s, out)
				}
			}
			if len(sent) != 1 || len(good.take("/other")) != 1 {
				t.Errorf("the other channel was not sent: %v", sent)
			}
		})
	}
	// Without STARTTLS the password never went out in clear.
	if a := plain.Auths(); len(a) != 0 {
		t.Errorf("AUTH over a plain connection: %v", a)
	}
}

// TLS from the first byte (port 465) works with tls = "implicit".
func TestEmailImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Implicit: true, User: "u", Password: smtpPassword})
	e := &notify.Email{Server: srv.Addr, TLS: notify.TLSImplicit, CAFile: srv.CAFile, From: "a@b.c", To: []string{"d@e.f"}, Username: "u", Password: smtpPassword}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Send(ctx, message(notify.OnWarning, "warning", 3)); err != nil {
		t.Fatal(err)
	}
	if m := srv.Mails(); len(m) != 1 || !m[0].TLS || !strings.Contains(m[0].Data, "nightly") {
		t.Fatalf("mails: %+v", m)
	}
}
