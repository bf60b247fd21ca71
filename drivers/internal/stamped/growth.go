package stamped

import (
	"context"
	"time"

	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// Progress for tools that print none of their own. The tools that do
// have their parser beside their commands (parseResticStatus, ...), fed by
// proc.ProgressReader.

// growthInterval is how often WatchGrowth looks at a file being written.
var growthInterval = time.Second

// WatchGrowth reports, while a tool that prints no progress of its own
// (pg_dump) writes path, how much it has written: the size of the file,
// or of a directory dump's files. It does nothing unless ctx's trace
// wants progress; the returned stop ends it.
func WatchGrowth(ctx context.Context, path string) (stop func()) {
	report := proc.TraceOf(ctx).Progress
	if report == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(growthInterval)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				n := DiskSize(path)
				report(proc.Progress{Bytes: n, Percent: -1, ETA: -1, Rate: float64(n) / time.Since(start).Seconds()})
			}
		}
	}()
	return func() { close(done); <-finished }
}
