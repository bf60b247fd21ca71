package stamped

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// WatchGrowth reports the size of a file being written, and stops.
func TestWatchGrowth(t *testing.T) {
	defer func(d time.Duration) { growthInterval = d }(growthInterval)
	growthInterval = 10 * time.Millisecond
	path := t.TempDir() + "/dump.partial"
	os.WriteFile(path, make([]byte, 1000), 0o600)
	seen := make(chan proc.Progress, 100)
	stop := WatchGrowth(proc.WithTrace(context.Background(), &proc.Trace{Progress: func(p proc.Progress) {
		select {
		case seen <- p:
		default:
		}
	}}), path)
	p := <-seen
	stop()
	if p.Bytes != 1000 || p.Percent >= 0 || p.Total != 0 {
		t.Errorf("progress of a 1000-byte file: %+v", p)
	}
	// Stopped means stopped: nothing more arrives.
	for len(seen) > 0 {
		<-seen
	}
	time.Sleep(5 * growthInterval)
	if len(seen) != 0 {
		t.Error("reports after stop")
	}
	// Nobody watching: no goroutine, nothing to stop.
	WatchGrowth(context.Background(), path)()
}
