package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"
)

// emailLimit bounds a mail's body: what a ping carries.
const emailLimit = BodyLimit

// TLS modes of an SMTP server (`tls`).
const (
	// TLSStartTLS: a plain connection upgraded by STARTTLS, which the
	// server must offer (port 587, submission). The default.
	TLSStartTLS = "starttls"
	// TLSImplicit: TLS from the first byte (port 465, submissions).
	TLSImplicit = "implicit"
	// TLSNone: no encryption, for a relay on the same host; no
	// password goes over it.
	TLSNone = "none"
)

// TLSModes lists the values `tls` accepts.
var TLSModes = []string{TLSStartTLS, TLSImplicit, TLSNone}

// Email sends the outcome as a plain-text mail through an SMTP server
// (github.com/wneessen/go-mail: SMTP AUTH, STARTTLS and MIME are its
// job, not ours).
type Email struct {
	Server   string // host:port
	TLS      string // one of TLSModes; "" is starttls
	CAFile   string // PEM certificates to trust instead of the system's; empty: the system's
	From     string
	To       []string
	Username string // empty: no SMTP AUTH
	Password string
	On       []string
	Agent    string
}

func (e *Email) Name() string            { return "email" }
func (e *Email) Wants(event string) bool { return on(e.On).Wants(event) }

func (e *Email) Send(ctx context.Context, m Message) error {
	if err := e.send(ctx, m); err != nil {
		return fmt.Errorf("email via %s: %w", e.Server, err)
	}
	return nil
}

func (e *Email) send(ctx context.Context, m Message) error {
	host, portStr, err := net.SplitHostPort(e.Server)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("port %q is not a number", portStr)
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", e.CAFile)
		}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSConfig(tc)}
	// The context bounds the whole exchange; this bounds each step.
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, mail.WithTimeout(max(time.Until(dl), time.Millisecond)))
	}
	switch e.TLS {
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		// Never fall back to a plain connection: the password and the
		// report would cross the network in clear.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if e.Username != "" {
		// The strongest mechanism the server offers; PLAIN and LOGIN
		// only over TLS.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.Username), mail.WithPassword(e.Password))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		return err
	}
	msg := mail.NewMsg()
	if err := msg.From(e.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := msg.To(e.To...); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	msg.Subject(m.Title())
	msg.SetDate()
	msg.SetMessageID()
	if e.Agent != "" {
		msg.SetUserAgent(e.Agent)
	}
	msg.SetBodyString(mail.TypeTextPlain, m.text(emailLimit))
	return c.DialAndSendWithContext(ctx, msg)
}
