// Package notify tells the outside world how a run went: pings in the
// healthchecks.io protocol, the plan's on_success / on_failure hooks, and
// messages to people through ntfy, e-mail and webhooks (Channel).
// It knows nothing about plans or drivers' settings; the caller decides
// what happened and this package delivers it, bounded in time and size.
package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// BodyLimit is the most a ping body carries: healthchecks.io stores the
// first 100 kB (100000 bytes) of a ping's body and drops the rest.
const BodyLimit = 100_000

// DefaultTimeout bounds each ping: a monitor that hangs must not hold a
// backup run (or its lock) hostage.
const DefaultTimeout = 10 * time.Second

// Pinger speaks the healthchecks.io ping protocol for one run: /start when
// it starts, the bare URL for success, /fail for failure and /log for an
// event that changes nothing; every ping carries the same run id (rid), so
// healthchecks pairs the start with the finish even when runs overlap.
//
// The URL holds a secret token (anyone with it can ping the check), so it
// never appears in errors or logs: only Redacted does.
type Pinger struct {
	base   *url.URL
	runID  string
	client *http.Client
	agent  string
	limit  int
}

// NewPinger returns a Pinger for the base ping URL with a fresh run id.
// timeout bounds each ping (DefaultTimeout when zero); agent is the
// User-Agent sent.
func NewPinger(raw string, timeout time.Duration, agent string) (*Pinger, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse's error quotes the URL: say what is wrong without it.
		return nil, errors.New("the ping URL is not an http(s) URL")
	}
	rid, err := NewRunID()
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Pinger{base: u, runID: rid, client: &http.Client{Timeout: timeout}, agent: agent, limit: BodyLimit}, nil
}

// RunID is the run id sent with every ping: a random UUID in the lowercase
// canonical form healthchecks requires.
func (p *Pinger) RunID() string { return p.runID }

// Limit is how many body bytes the server keeps: BodyLimit, or less when
// an earlier response said so in its Ping-Body-Limit header.
func (p *Pinger) Limit() int { return p.limit }

// Start signals that the run started.
func (p *Pinger) Start(ctx context.Context, body []byte) error {
	return p.send(ctx, "/start", body)
}

// Success signals that the run finished well.
func (p *Pinger) Success(ctx context.Context, body []byte) error { return p.send(ctx, "", body) }

// Fail signals that the run failed.
func (p *Pinger) Fail(ctx context.Context, body []byte) error { return p.send(ctx, "/fail", body) }

// Log records an event without changing the check's status.
func (p *Pinger) Log(ctx context.Context, body []byte) error { return p.send(ctx, "/log", body) }

// Redacted is the ping URL as it may be shown: scheme, host and endpoint,
// with the path that holds the token masked.
func (p *Pinger) Redacted(endpoint string) string {
	return p.base.Scheme + "://" + p.base.Host + "/***" + endpoint
}

// url is the full ping URL for an endpoint ("", "/start", "/fail", "/log"),
// keeping any query of the base URL (slug URLs use ?create=1).
func (p *Pinger) url(endpoint string) string {
	u := *p.base
	path := strings.TrimSuffix(u.EscapedPath(), "/") + endpoint
	u.Path, _ = url.PathUnescape(path)
	u.RawPath = path
	q := u.Query()
	q.Set("rid", p.runID)
	u.RawQuery = q.Encode()
	return u.String()
}

func (p *Pinger) send(ctx context.Context, endpoint string, body []byte) error {
	if len(body) > p.limit {
		body = body[:p.limit]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url(endpoint), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("ping %s: cannot build the request", p.Redacted(endpoint))
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	if p.agent != "" {
		req.Header.Set("User-Agent", p.agent)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// *url.Error quotes the full URL, token included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("ping %s: %w", p.Redacted(endpoint), err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; the body itself is
	// not shown, as a server may echo the URL in it.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if n, err := strconv.Atoi(resp.Header.Get("Ping-Body-Limit")); err == nil && n > 0 && n < p.limit {
		// The server keeps only the first n bytes: later pings fit their
		// tail into them instead of losing it.
		p.limit = n
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("ping %s: %s", p.Redacted(endpoint), resp.Status)
	}
	return nil
}

// NewRunID returns a random (version 4) UUID in lowercase canonical form.
func NewRunID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// Body is what a finishing ping carries: the summary first (healthchecks
// keeps the beginning of a body), then as much of the end of the log as
// fits in limit bytes, cut at a line boundary.
func Body(summary string, log []byte, limit int) []byte {
	const marker = "[... earlier log lines dropped ...]\n"
	const header = "\n--- log ---\n"
	if len(summary) > limit {
		return []byte(summary[:limit])
	}
	if len(log) == 0 {
		return []byte(summary)
	}
	out := []byte(summary + header)
	room := limit - len(out)
	if len(log) <= room {
		return append(out, log...)
	}
	room -= len(marker)
	if room <= 0 {
		return []byte(summary)
	}
	tail := log[len(log)-room:]
	// Drop the partial first line.
	if i := bytes.IndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	}
	return append(append(out, marker...), tail...)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
