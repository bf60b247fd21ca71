package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "0f9e8d7c-secret-token"

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type request struct {
	Method, Path, Query, Body, ContentType string
}

// recorder is a loopback HTTP server that records every request and
// answers with handler (200 OK when nil).
func recorder(t *testing.T, handler http.HandlerFunc) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.URL.RawQuery, string(b), r.Header.Get("Content-Type")})
		mu.Unlock()
		if handler != nil {
			handler(w, r)
			return
		}
		fmt.Fprint(w, "OK")
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

func TestPingEndpoints(t *testing.T) {
	srv, requests := recorder(t, nil)
	for _, tc := range []struct {
		name, base, wantPath, wantQuery string
	}{
		{"uuid", "/" + token, "/" + token, ""},
		{"trailing slash", "/ping/" + token + "/", "/ping/" + token, ""},
		{"slug with create", "/key/db-backup?create=1", "/key/db-backup", "create=1&"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPinger(srv.URL+tc.base, time.Second, "test/1")
			if err != nil {
				t.Fatal(err)
			}
			before := len(requests())
			ctx := context.Background()
			for _, send := range []func(context.Context, []byte) error{p.Start, p.Success, p.Fail, p.Log} {
				if err := send(ctx, []byte("body")); err != nil {
					t.Fatal(err)
				}
			}
			got := requests()[before:]
			wantRid := tc.wantQuery + "rid=" + p.RunID()
			for i, suffix := range []string{"/start", "", "/fail", "/log"} {
				r := got[i]
				if r.Method != "POST" || r.Path != tc.wantPath+suffix || r.Query != wantRid || r.Body != "body" || !strings.HasPrefix(r.ContentType, "text/plain") {
					t.Errorf("ping %d: %+v, want POST %s?%s", i, r, tc.wantPath+suffix, wantRid)
				}
			}
		})
	}
}

func TestRunIDIsACanonicalUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id, err := NewRunID()
		if err != nil || !uuidRE.MatchString(id) || seen[id] {
			t.Fatalf("run id %q (err %v, seen before %v)", id, err, seen[id])
		}
		seen[id] = true
	}
}

// Whatever goes wrong, the error says so without the token.
func TestPingErrorsNeverShowTheToken(t *testing.T) {
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr
	}()
	notFound, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: "+r.URL.Path, http.StatusNotFound)
	})
	slow, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	for _, tc := range []struct {
		name, base, want string
	}{
		{"refused", refused, "connection refused"},
		{"404", notFound.URL, "404 Not Found"},
		{"slow", slow.URL, "Timeout exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPinger(tc.base+"/ping/"+token, 300*time.Millisecond, "")
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = p.Fail(context.Background(), []byte("x"))
			if err == nil {
				t.Fatal("no error")
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the ping took %s despite a 300ms timeout", took)
			}
			msg := err.Error()
			if strings.Contains(msg, token) || !strings.Contains(msg, "/***/fail") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q: want %q, the token masked", msg, tc.want)
			}
		})
	}
	if _, err := NewPinger("hc-ping.com/"+token, 0, ""); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("a URL without a scheme: %v", err)
	}
}

// A server that keeps fewer bytes says so; later bodies are cut to fit.
func TestPingBodyLimitHeader(t *testing.T) {
	srv, requests := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Ping-Body-Limit", "50")
		fmt.Fprint(w, "OK")
	})
	p, err := NewPinger(srv.URL+"/"+token, time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Limit() != BodyLimit {
		t.Fatalf("limit %d before any ping", p.Limit())
	}
	p.Start(context.Background(), nil)
	if p.Limit() != 50 {
		t.Fatalf("limit %d after Ping-Body-Limit: 50", p.Limit())
	}
	p.Success(context.Background(), bytes.Repeat([]byte("x"), 80))
	if got := requests()[1].Body; len(got) != 50 {
		t.Fatalf("body of %d bytes sent to a server keeping 50", len(got))
	}
}

func TestBody(t *testing.T) {
	var log bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&log, "time=2026-11-26T02:00:00Z level=INFO msg=\"line %d\"\n", i)
	}
	summary := "alexandria-backup run weekly: failed (exit 1)\n  missing (restic): failed\n    error: /nonexistent/unmounted\n"
	for _, tc := range []struct {
		name     string
		summary  string
		log      []byte
		limit    int
		want     []string
		wantLast string
	}{
		{"fits", summary, []byte("a\nb\n"), BodyLimit, []string{summary + "\n--- log ---\na\nb\n"}, "b"},
		{"no log", summary, nil, BodyLimit, []string{summary}, "    error: /nonexistent/unmounted"},
		{"long log", summary, log.Bytes(), BodyLimit, []string{summary, "[... earlier log lines dropped ...]\ntime="}, `time=2026-11-26T02:00:00Z level=INFO msg="line 19999"`},
		{"huge summary", strings.Repeat("s", 200), log.Bytes(), 100, []string{strings.Repeat("s", 100)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := Body(tc.summary, tc.log, tc.limit)
			if len(b) > tc.limit {
				t.Fatalf("%d bytes, limit %d", len(b), tc.limit)
			}
			if !bytes.HasPrefix(b, []byte(tc.summary[:min(len(tc.summary), tc.limit)])) {
				t.Errorf("the body does not start with the summary:\n%.300s", b)
			}
			for _, w := range tc.want {
				if !bytes.Contains(b, []byte(w)) {
					t.Errorf("body lacks %q", w)
				}
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if tc.wantLast != "" && lines[len(lines)-1] != tc.wantLast {
				t.Errorf("last line %q, want %q", lines[len(lines)-1], tc.wantLast)
			}
		})
	}
}
