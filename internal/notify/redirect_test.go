package notify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/alexandria-backup/alexandria-backup/internal/notify"
)

// A webhook's headers hold its API key, and Go re-sends them (all but
// Authorization) wherever a redirect points: a redirect to another host
// is refused, and the other host hears nothing. One on the same host is
// followed.
func TestWebhookRefusesRedirectsElsewhere(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	var sameHost atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/collect", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/hook", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") == "k3y" {
			sameHost.Add(1)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	send := func(path string) error {
		u, _ := url.Parse(srv.URL + path)
		w := &notify.Webhook{URL: u, Headers: map[string]string{"X-Api-Key": "k3y"}}
		return w.Send(context.Background(), notify.Message{Event: notify.OnFailure, Plan: "nightly", Status: "failed", ExitCode: 1})
	}
	if err := send("/away"); err == nil || !strings.Contains(err.Error(), "redirect to another host") {
		t.Errorf("a redirect to another host: %v", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other host received %d requests (with the API key)", n)
	}
	if err := send("/moved"); err != nil || sameHost.Load() != 1 {
		t.Errorf("a redirect on the same host: %v, %d requests arrived with the key", err, sameHost.Load())
	}
}
