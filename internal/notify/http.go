package notify

// ntfy and webhooks are one HTTP POST each: net/http does them in a few
// lines. A notification library (shoutrrr) is not among the modules
// served to this project, and would bring a dozen services we do not use.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Size limits of each server's message: beyond them the message is
// refused or cut by the server, so the log tail is cut here instead.
const (
	// ntfy refuses (or turns into an attachment) a message over 4096 bytes.
	ntfyLimit = 4000
	// Discord refuses content over 2000 characters.
	discordLimit = 1900
	// Slack shows about 4000 characters of a text before "show more".
	slackLimit = 3900
	// A JSON or text webhook carries what a ping does.
	webhookLimit = 64 << 10
)

// Ntfy publishes to an ntfy topic (https://ntfy.sh/TOPIC or a server of
// one's own): the body is the message, Title, Priority and Tags headers
// say what happened, an access token goes as Authorization: Bearer.
type Ntfy struct {
	URL   *url.URL
	Token string // empty: none
	On    []string
	Agent string
}

func (n *Ntfy) Name() string            { return "ntfy" }
func (n *Ntfy) Wants(event string) bool { return on(n.On).Wants(event) }
func (n *Ntfy) Redacted() string        { return RedactURL(n.URL) }
func (n *Ntfy) Send(ctx context.Context, m Message) error {
	// Priorities 4 (high: a notification that sounds) for a failure, 3
	// (default) for warnings, 2 (low) for success; tags are shown as emoji.
	prio, tag := "high", "rotating_light"
	switch m.Event {
	case OnWarning:
		prio, tag = "default", "warning"
	case OnSuccess:
		prio, tag = "low", "white_check_mark"
	}
	h := http.Header{}
	h.Set("Title", m.Title())
	h.Set("Priority", prio)
	h.Set("Tags", tag+",alexandria-backup,"+m.Plan)
	h.Set("Content-Type", "text/plain; charset=utf-8")
	if n.Token != "" {
		h.Set("Authorization", "Bearer "+n.Token)
	}
	return post(ctx, n.URL, h, []byte(m.text(ntfyLimit)), n.Agent, "ntfy")
}

// Webhook formats.
const (
	FormatJSON    = "json"
	FormatSlack   = "slack"
	FormatDiscord = "discord"
	FormatText    = "text"
)

// WebhookFormats lists the formats `format` accepts.
var WebhookFormats = []string{FormatJSON, FormatSlack, FormatDiscord, FormatText}

// Webhook POSTs the outcome to a URL: as this tool's JSON object, as a
// Slack or Discord incoming-webhook message (Mattermost and Rocket.Chat
// take Slack's), or as plain text.
type Webhook struct {
	URL     *url.URL
	Format  string // one of WebhookFormats; "" is json
	Headers map[string]string
	Token   string // empty: none; else Authorization: Bearer
	On      []string
	Agent   string
}

func (w *Webhook) Name() string            { return "webhook" }
func (w *Webhook) Wants(event string) bool { return on(w.On).Wants(event) }
func (w *Webhook) Redacted() string        { return RedactURL(w.URL) }

// WebhookPayload is the JSON webhook's body.
type WebhookPayload struct {
	Title         string   `json:"title"`
	Event         string   `json:"event"`
	Command       string   `json:"command,omitempty"` // the check that ran; absent for a run
	Plan          string   `json:"plan"`
	Host          string   `json:"host"`
	Status        string   `json:"status"`
	ExitCode      int      `json:"exit_code"`
	FailedTargets []string `json:"failed_targets"`
	Report        string   `json:"report,omitempty"`
	// Text is the summary and the tail of the log.
	Text string `json:"text"`
}

func (w *Webhook) Send(ctx context.Context, m Message) error {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	var body []byte
	var err error
	switch w.Format {
	case FormatSlack:
		// mrkdwn: the title in bold, the rest as a code block so that log
		// lines keep their shape.
		body, err = json.Marshal(map[string]string{"text": "*" + m.Title() + "*\n```\n" + m.text(slackLimit-len(m.Title())-16) + "\n```"})
	case FormatDiscord:
		body, err = json.Marshal(map[string]any{"content": cutUTF8("**"+m.Title()+"**\n```\n"+m.text(discordLimit-len(m.Title())-16)+"\n```", discordLimit),
			// Never ping @everyone because a log line says so.
			"allowed_mentions": map[string][]string{"parse": {}}})
	case FormatText:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		body = []byte(m.Title() + "\n\n" + m.text(webhookLimit))
	default:
		failed := m.FailedTargets
		if failed == nil {
			failed = []string{}
		}
		body, err = json.Marshal(WebhookPayload{Title: m.Title(), Event: m.Event, Command: m.Command, Plan: m.Plan, Host: m.Host, Status: m.Status,
			ExitCode: m.ExitCode, FailedTargets: failed, Report: m.Report, Text: m.text(webhookLimit)})
	}
	if err != nil {
		return err
	}
	for k, v := range w.Headers {
		h.Set(k, v)
	}
	if w.Token != "" {
		h.Set("Authorization", "Bearer "+w.Token)
	}
	return post(ctx, w.URL, h, body, w.Agent, "webhook")
}

// client follows a redirect only on the same host and never from https
// to http: Go drops Authorization on another host but sends the other
// headers (a webhook's API key) wherever a redirect points.
var client = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) >= 5:
		return errors.New("stopped after 5 redirects")
	case req.URL.Host != first.Host:
		return fmt.Errorf("refused a redirect to another host (%s): the request carries secrets", req.URL.Hostname())
	case first.Scheme == "https" && req.URL.Scheme != "https":
		return errors.New("refused a redirect from https to http: the request carries secrets")
	}
	return nil
}}

// post sends one request. Its errors name the URL redacted (the path of a
// webhook or topic is its secret) and never the response's body (a
// server may echo the request in it).
func post(ctx context.Context, u *url.URL, h http.Header, body []byte, agent, what string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s %s: cannot build the request", what, RedactURL(u))
	}
	req.Header = h
	if agent != "" {
		req.Header.Set("User-Agent", agent)
	}
	// The context carries the timeout (SendAll).
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error quotes the full URL: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", what, RedactURL(u), err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s", what, RedactURL(u), strings.TrimSpace(resp.Status))
	}
	return nil
}
