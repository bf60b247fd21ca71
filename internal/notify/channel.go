package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Events a channel can be sent on (its `on` list): what a run's outcome
// is called there. A failure is any run that did not end ok or with
// warnings: failed, interrupted or not started.
const (
	OnFailure = "failure"
	OnWarning = "warning"
	OnSuccess = "success"
)

// Events lists the names `on` accepts.
var Events = []string{OnFailure, OnWarning, OnSuccess}

// DefaultOn is what a channel is sent on when its `on` is not set:
// warnings too, as a warning (files restic could not read) is a backup
// that is not whole, and a person should hear of it.
var DefaultOn = []string{OnFailure, OnWarning}

// DefaultChannelTimeout bounds each channel's send: a chat server that
// hangs must not hold the run (or its lock) for long.
const DefaultChannelTimeout = 15 * time.Second

// Message is a run's outcome as the channels tell it to people.
type Message struct {
	Event string // OnFailure, OnWarning or OnSuccess
	// Command is the check that ran ("verify", "verify --full", "drill");
	// "" for a run, whose title names only its plan.
	Command  string
	Plan     string
	Host     string
	Status   string // the run's status (ok, warning, failed, interrupted, not-started)
	ExitCode int
	// FailedTargets are the targets that did not succeed.
	FailedTargets []string
	// Summary is the run's summary: what ran, each target's status, its
	// error and warnings (several lines).
	Summary string
	// Log is the run's log; each channel keeps as much of its end as its
	// message size allows.
	Log    []byte
	Report string // path of the run report, when written
}

// Title is the message's one-line subject.
func (m Message) Title() string {
	what := strings.TrimSpace(m.Command + " " + m.Plan)
	return fmt.Sprintf("alexandria-backup %s on %s: %s (exit %d)", what, m.Host, m.Status, m.ExitCode)
}

// text is the summary and the tail of the log in at most limit bytes,
// valid UTF-8 (chat servers refuse a cut rune).
func (m Message) text(limit int) string {
	return strings.ToValidUTF8(string(Body(m.Summary, m.Log, limit)), "")
}

// Channel is one place a run's outcome goes to people: ntfy, e-mail, a
// webhook.
type Channel interface {
	// Name is the channel's key in [notify], e.g. "ntfy", for messages.
	Name() string
	// Wants reports whether the channel is sent on event.
	Wants(event string) bool
	// Send delivers m. Its error never holds a secret (a token, a
	// password, a URL's secret path).
	Send(ctx context.Context, m Message) error
}

// on is a channel's `on` list.
type on []string

func (o on) Wants(event string) bool {
	if o == nil {
		return slices.Contains(DefaultOn, event)
	}
	return slices.Contains(o, event)
}

// EventOf names a run's status for channels: "" when the outcome is sent
// nowhere (a run skipped because another holds the lock is not one).
func EventOf(status string) string {
	switch status {
	case "ok":
		return OnSuccess
	case "warning":
		return OnWarning
	case "":
		return ""
	}
	return OnFailure
}

// SendAll sends m to every channel that wants its event, all at once,
// each bounded by timeout (DefaultChannelTimeout when zero): the whole
// takes at most about one timeout. A channel that fails is logged as a
// warning, with secrets masked, and never stops the others. It returns
// the names of the channels sent to, for the log and tests.
func SendAll(ctx context.Context, chans []Channel, m Message, timeout time.Duration, log *slog.Logger, secrets []string) []string {
	if timeout <= 0 {
		timeout = DefaultChannelTimeout
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sent []string
	)
	for _, c := range chans {
		if !c.Wants(m.Event) {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := c.Send(cctx, m)
			if err != nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("timed out after %s: %w", timeout, err)
			}
			took := time.Since(start).Round(time.Millisecond)
			if err != nil {
				log.Warn("could not notify; the run's outcome is unchanged", "channel", c.Name(), "event", m.Event,
					"duration", took, "error", Mask(err.Error(), secrets))
				return
			}
			log.Info("notified", "channel", c.Name(), "event", m.Event, "duration", took)
			mu.Lock()
			sent = append(sent, c.Name())
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(sent)
	return sent
}

// Mask replaces every secret in s and the password of every URL in it: a
// server's error may echo what it was sent.
func Mask(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, proc.Masked)
		}
	}
	return proc.MaskURLPasswords(s)
}

// RedactURL is a URL as it may be shown: scheme and host only, the path
// (a webhook's or ntfy topic's secret) and query masked.
func RedactURL(u *url.URL) string {
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/***"
	}
	return s
}

// cutUTF8 is s cut to at most n bytes, on a rune boundary.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
