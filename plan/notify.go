package plan

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/alexandria-backup/alexandria-backup/drivers"
	"github.com/alexandria-backup/alexandria-backup/internal/notify"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The channels of [notify] that reach people: each a table of its own,
// each with an `on` list (failure, warning, success; default failure
// and warning). Secrets (an access token, an SMTP password) come only
// from files (mode 0600), read when a run sends; URLs whose path is a
// secret (an ntfy topic, a chat webhook) are plan secrets like ping_url.

// NtfyConfig is [notify.ntfy].
type NtfyConfig struct {
	URL       string // the topic's URL, e.g. https://ntfy.sh/TOPIC
	TokenFile string // an access token (tk_...), sent as Authorization: Bearer
	On        []string
}

// EmailConfig is [notify.email].
type EmailConfig struct {
	SMTP         string // host:port
	TLS          string // notify.TLSModes; default starttls
	CAFile       string
	From         string
	To           []string
	Username     string
	PasswordFile string
	On           []string
}

// WebhookConfig is [notify.webhook].
type WebhookConfig struct {
	URL       string
	Format    string // notify.WebhookFormats; default json
	Headers   map[string]string
	TokenFile string
	On        []string
}

var (
	ntfyKeys    = []string{"url", "token_file", "on"}
	emailKeys   = []string{"smtp", "tls", "ca_file", "from", "to", "username", "password_file", "on"}
	webhookKeys = []string{"url", "format", "headers", "token_file", "on"}
)

// headerNameRE is an HTTP header name (RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// channelURL reads a channel's url: http(s), a host, no password (a
// token goes in token_file). The URL's path is a secret: recorded as one.
func (l *loader) channelURL(kp []string, raw, v any, example string) string {
	s, ok := v.(string)
	u, err := url.Parse(s)
	switch {
	case !ok || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		l.problem(kp, "must be an http(s) URL such as %q", example)
		return ""
	case proc.HasURLPassword(s) || u.User != nil:
		l.problem(kp, "must not hold a user or password; put an access token in token_file (mode 0600)")
		return ""
	}
	l.secret(kp, raw)
	return s
}

// filePath reads a key naming a file: an absolute path (a scheduled run's
// working directory is /).
func (l *loader) filePath(kp []string, v any) string {
	s, ok := v.(string)
	if !ok || !filepath.IsAbs(s) {
		l.problem(kp, "must be an absolute path to a file")
		return ""
	}
	return s
}

// onList reads `on`: failure, warning, success; [] turns the channel off.
func (l *loader) onList(kp []string, v any) []string {
	list, ok := v.([]any)
	out := []string{}
	for _, x := range list {
		s, isStr := x.(string)
		if !isStr || !slices.Contains(notify.Events, s) {
			ok = false
			break
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if !ok {
		l.problem(kp, "must be a list of events among %s, e.g. [\"failure\", \"warning\"] (the default)", strings.Join(quoteAll(notify.Events), ", "))
		return nil
	}
	return out
}

func (l *loader) ntfy(raw map[string]any) *NtfyConfig {
	c := &NtfyConfig{}
	for _, key := range sortedKeys(raw) {
		kp := []string{"notify", "ntfy", key}
		v := l.expand(kp, raw[key])
		switch key {
		case "url":
			c.URL = l.channelURL(kp, raw[key], v, "https://ntfy.sh/TOPIC")
		case "token_file":
			c.TokenFile = l.filePath(kp, v)
		case "on":
			c.On = l.onList(kp, v)
		default:
			l.unknownChannelKey(kp, ntfyKeys)
		}
	}
	if _, ok := raw["url"]; !ok {
		l.problem([]string{"notify", "ntfy"}, "`url` is required (the topic's URL, e.g. \"https://ntfy.sh/TOPIC\")")
	}
	l.secretsOverTLS([]string{"notify", "ntfy", "url"}, c.URL, c.TokenFile != "")
	return c
}

// secretsOverTLS refuses a channel that sends a secret (its token, its
// headers) to a plain-http URL: it would cross the network in clear, as
// e-mail refuses to send its password without TLS. A relay on this
// machine (loopback) is allowed.
func (l *loader) secretsOverTLS(kp []string, raw string, sendsSecret bool) {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || !sendsSecret || u.Scheme != "http" {
		return
	}
	if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
		return
	}
	l.problem(kp, "must be https: the channel sends a secret (token_file, headers) that plain http would carry in clear")
}

func (l *loader) email(raw map[string]any) *EmailConfig {
	c := &EmailConfig{TLS: notify.TLSStartTLS}
	for _, key := range sortedKeys(raw) {
		kp := []string{"notify", "email", key}
		v := l.expand(kp, raw[key])
		s, isStr := v.(string)
		switch key {
		case "smtp":
			host, port, err := net.SplitHostPort(s)
			n, perr := strconv.Atoi(port)
			if !isStr || err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
				l.problem(kp, "must be the SMTP server as host:port, e.g. \"smtp.example.com:587\"")
				continue
			}
			c.SMTP = s
		case "tls":
			if !isStr || !slices.Contains(notify.TLSModes, s) {
				l.problem(kp, "must be %s (starttls: port 587; implicit: port 465; none: a relay on this host)", strings.Join(quoteAll(notify.TLSModes), ", "))
				continue
			}
			c.TLS = s
		case "ca_file":
			c.CAFile = l.filePath(kp, v)
		case "from":
			if a, err := mail.ParseAddress(s); !isStr || err != nil || strings.ContainsAny(s, "\r\n") {
				l.problem(kp, "must be one e-mail address, e.g. \"backup@example.com\"")
			} else {
				c.From = a.String()
			}
		case "to":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				l.problem(kp, "must be a non-empty list of e-mail addresses, e.g. [\"ops@example.com\"]")
				continue
			}
			for _, x := range list {
				xs, ok := x.(string)
				if _, err := mail.ParseAddress(xs); !ok || err != nil || strings.ContainsAny(xs, "\r\n") {
					l.problem(kp, "%s is not an e-mail address", fmt.Sprint(x))
					continue
				}
				c.To = append(c.To, xs)
			}
		case "username":
			if !isStr || s == "" {
				l.problem(kp, "must be a non-empty string")
				continue
			}
			c.Username = s
		case "password_file":
			c.PasswordFile = l.filePath(kp, v)
		case "on":
			c.On = l.onList(kp, v)
		default:
			l.unknownChannelKey(kp, emailKeys)
		}
	}
	path := []string{"notify", "email"}
	for _, req := range []string{"smtp", "from", "to"} {
		if _, ok := raw[req]; !ok {
			l.problem(path, "`%s` is required", req)
		}
	}
	_, user := raw["username"]
	_, pass := raw["password_file"]
	switch {
	case user && !pass:
		l.problem(path, "`password_file` is required with `username` (a file holding only the SMTP password, mode 0600)")
	case pass && !user:
		l.problem(append(path, "password_file"), "is used only with `username`: set the SMTP user name too")
	case user && c.TLS == notify.TLSNone:
		l.problem(append(path, "tls"), "\"none\" would send the SMTP password in clear: use starttls or implicit")
	}
	return c
}

func (l *loader) webhook(raw map[string]any) *WebhookConfig {
	c := &WebhookConfig{Format: notify.FormatJSON}
	for _, key := range sortedKeys(raw) {
		kp := []string{"notify", "webhook", key}
		v := l.expand(kp, raw[key])
		switch key {
		case "url":
			c.URL = l.channelURL(kp, raw[key], v, "https://hooks.slack.com/services/...")
		case "format":
			s, ok := v.(string)
			if !ok || !slices.Contains(notify.WebhookFormats, s) {
				l.problem(kp, "must be %s", strings.Join(quoteAll(notify.WebhookFormats), ", "))
				continue
			}
			c.Format = s
		case "headers":
			m, ok := v.(map[string]any)
			if !ok {
				l.problem(kp, "must be a table of header names and values, e.g. { X-Api-Key = \"${API_KEY}\" }")
				continue
			}
			c.Headers = map[string]string{}
			for _, name := range sortedKeys(m) {
				hp := append(append([]string{}, kp...), name)
				val, ok := m[name].(string)
				switch {
				case !headerNameRE.MatchString(name):
					l.problem(hp, "not an HTTP header name")
				case !ok || strings.ContainsAny(val, "\r\n\x00"):
					l.problem(hp, "must be a string on one line")
				default:
					c.Headers[name] = val
				}
				// A header commonly holds an API key: a secret, as env values are.
				if rawHeaders, ok := raw[key].(map[string]any); ok {
					l.secret(hp, rawHeaders[name])
				}
			}
		case "token_file":
			c.TokenFile = l.filePath(kp, v)
		case "on":
			c.On = l.onList(kp, v)
		default:
			l.unknownChannelKey(kp, webhookKeys)
		}
	}
	if _, ok := raw["url"]; !ok {
		l.problem([]string{"notify", "webhook"}, "`url` is required")
	}
	l.secretsOverTLS([]string{"notify", "webhook", "url"}, c.URL, c.TokenFile != "" || len(c.Headers) > 0)
	for name := range c.Headers {
		if c.TokenFile != "" && strings.EqualFold(name, "Authorization") {
			l.problem([]string{"notify", "webhook", "headers", name}, "conflicts with token_file, which sends Authorization: Bearer")
		}
	}
	return c
}

// unknownChannelKey reports an unknown key; a secret written inline
// (token, password) is told where it goes instead.
func (l *loader) unknownChannelKey(kp []string, known []string) {
	key := kp[len(kp)-1]
	for _, k := range known {
		if strings.HasSuffix(k, "_file") && strings.TrimSuffix(k, "_file") == key {
			l.problem(kp, "unknown key: a secret is never written in the plan; put it alone in a file (mode 0600) and set %s to its path", k)
			return
		}
	}
	l.problem(kp, "unknown key%s", suggest(key, known))
}

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strconv.Quote(s)
	}
	return out
}

// notifySecretFile is one secret file [notify] names.
type notifySecretFile struct {
	key  []string
	path string
}

func (n Notify) secretFiles() []notifySecretFile {
	var out []notifySecretFile
	add := func(path string, key ...string) {
		if path != "" {
			out = append(out, notifySecretFile{key, path})
		}
	}
	if n.Ntfy != nil {
		add(n.Ntfy.TokenFile, "notify", "ntfy", "token_file")
	}
	if n.Email != nil {
		add(n.Email.PasswordFile, "notify", "email", "password_file")
	}
	if n.Webhook != nil {
		add(n.Webhook.TokenFile, "notify", "webhook", "token_file")
	}
	return out
}

// Files are the files [notify] reads when a run ends: the channels'
// secret files and the e-mail CA file. A scheduled run must be able to
// read them (mounted in a pod, readable under systemd's sandbox).
func (n Notify) Files() []string {
	var out []string
	for _, f := range n.secretFiles() {
		out = append(out, f.path)
	}
	if n.Email != nil && n.Email.CAFile != "" {
		out = append(out, n.Email.CAFile)
	}
	return out
}

// CheckNotifySecrets refuses, as an *Error naming each key and its line,
// a secret file of [notify] that a run could not use: missing, not a
// regular file, open to group or others, empty. `validate` refuses the
// plan for it; `run` only warns, as a backup matters more than its
// alert (that channel then fails, the others still go).
func (p *Plan) CheckNotifySecrets() error {
	l := &loader{file: p.Path, lines: p.lines}
	if l.lines == nil {
		l.lines = newLineIndex(nil)
	}
	for _, f := range p.Notify.secretFiles() {
		if _, err := drivers.ReadSecretFile(f.path); err != nil {
			l.problem(f.key, "%v", err)
		}
	}
	if p.Notify.Email != nil && p.Notify.Email.CAFile != "" {
		if _, err := readable(p.Notify.Email.CAFile); err != nil {
			l.problem([]string{"notify", "email", "ca_file"}, "%v", err)
		}
	}
	return l.err()
}

// Channels builds the [notify] channels, reading their secret files now.
// A channel whose secret cannot be read is left out, with an error naming
// its key; secrets lists every secret read, for masking. agent is the
// User-Agent sent.
func (n Notify) Channels(agent string) (chans []notify.Channel, secrets []string, errs []error) {
	read := func(path string, key string) (string, bool) {
		if path == "" {
			return "", true
		}
		s, err := drivers.ReadSecretFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify.%s: %w", key, err))
			return "", false
		}
		secrets = append(secrets, s)
		return s, true
	}
	if c := n.Ntfy; c != nil {
		// The topic is its secret: masked wherever a message or error
		// might repeat it.
		secrets = append(secrets, c.URL)
		u, _ := url.Parse(c.URL)
		if tok, ok := read(c.TokenFile, "ntfy.token_file"); ok && u != nil {
			chans = append(chans, &notify.Ntfy{URL: u, Token: tok, On: c.On, Agent: agent})
		}
	}
	if c := n.Email; c != nil {
		if pass, ok := read(c.PasswordFile, "email.password_file"); ok {
			chans = append(chans, &notify.Email{Server: c.SMTP, TLS: c.TLS, CAFile: c.CAFile, From: c.From, To: c.To,
				Username: c.Username, Password: pass, On: c.On, Agent: agent})
		}
	}
	if c := n.Webhook; c != nil {
		secrets = append(secrets, c.URL)
		u, _ := url.Parse(c.URL)
		if tok, ok := read(c.TokenFile, "webhook.token_file"); ok && u != nil {
			chans = append(chans, &notify.Webhook{URL: u, Format: c.Format, Headers: c.Headers, Token: tok, On: c.On, Agent: agent})
		}
		for _, v := range c.Headers {
			secrets = append(secrets, v)
		}
	}
	return chans, secrets, errs
}

// readable checks that a file can be opened for reading.
func readable(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	f.Close()
	return true, nil
}
