package cli

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

// JSON logs give durations in seconds, as reports do, and say so in the
// key; other values pass as they are.
func TestJSONLogDurationsInSeconds(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: durationSeconds}))
	log.Info("x", "wait", 1500*time.Millisecond, "took_seconds", 2*time.Minute, "attempt", 2, "name", "30s",
		slog.Group("g", "d", time.Nanosecond*1234567))
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{"wait_seconds": 1.5, "took_seconds": 120.0, "attempt": 2.0, "name": "30s"} {
		if got[key] != want {
			t.Errorf("%s = %v, want %v in %s", key, got[key], want, buf.String())
		}
	}
	if g, _ := got["g"].(map[string]any); g["d_seconds"] != 0.001 {
		t.Errorf("grouped duration: %s", buf.String())
	}
	for _, key := range []string{"wait", "took_seconds_seconds"} {
		if _, ok := got[key]; ok {
			t.Errorf("key %s left in %s", key, buf.String())
		}
	}
}
