// Package smtptest is a real SMTP server on loopback for tests
// (github.com/emersion/go-smtp): STARTTLS with a self-signed certificate
// made for the test, or TLS from the first byte, AUTH PLAIN only over
// TLS, and every message kept with what the session saw.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one message the server accepted.
type Mail struct {
	From string
	To   []string
	Data string // the whole message, headers and body
	User string // who authenticated; empty: nobody
	TLS  bool   // the session was encrypted when DATA came
}

// Server is a running SMTP server.
type Server struct {
	Addr   string // 127.0.0.1:PORT
	CAFile string // the PEM certificate to trust
	// User and Password are what AUTH accepts; empty User: no AUTH.
	User, Password string

	mu    sync.Mutex
	mails []Mail
	auths []string // every AUTH attempt, as user:password
}

// Options choose the server's shape.
type Options struct {
	Implicit bool   // TLS from the first byte instead of STARTTLS
	NoTLS    bool   // neither
	User     string // AUTH PLAIN accepts this user with Password
	Password string
}

// Start runs a server until the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{User: o.User, Password: o.Password}
	cert, pemBytes := selfSigned(t)
	s.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(s.CAFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	var l net.Listener
	var err error
	switch {
	case o.NoTLS:
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case o.Implicit:
		l, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	default:
		srv.TLSConfig = cfg // offers STARTTLS
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// Mails returns the messages received so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// Take returns the messages received since the last Take.
func (s *Server) Take() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mails
	s.mails = nil
	return m
}

// Auths returns every AUTH attempt, as user:password.
func (s *Server) Auths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	mail Mail
}

func (se *session) AuthMechanisms() []string {
	if se.s.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		se.s.mu.Lock()
		se.s.auths = append(se.s.auths, user+":"+pass)
		se.s.mu.Unlock()
		if user != se.s.User || pass != se.s.Password {
			return errors.New("invalid credentials")
		}
		se.user = user
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.User != "" && se.user == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	se.mail = Mail{From: from, User: se.user}
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.mail.To = append(se.mail.To, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	se.mail.Data = string(b)
	_, se.mail.TLS = se.c.TLSConnectionState()
	se.s.mu.Lock()
	se.s.mails = append(se.s.mails, se.mail)
	se.s.mu.Unlock()
	return nil
}

func (se *session) Reset()        { se.mail = Mail{User: se.user} }
func (se *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
