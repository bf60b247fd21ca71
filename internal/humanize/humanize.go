// Package humanize writes sizes and durations the way people read them.
package humanize

import (
	"fmt"
	"strings"
	"time"

	gohumanize "github.com/dustin/go-humanize"
)

// Bytes writes n in binary units through go-humanize: "512 B", "1.5 KiB",
// "97 MiB" (three significant digits at most). Kept as a wrapper only
// because sizes here are int64 and callers need one import for both
// functions.
func Bytes(n int64) string {
	if n < 0 {
		return "-" + gohumanize.IBytes(uint64(-n))
	}
	return gohumanize.IBytes(uint64(n))
}

// Duration writes d the short way, to the second: "2h5m", "90m" as
// "1h30m", "45s"; negative durations as "0s". Written by hand: go-humanize
// only has relative times ("3 hours ago"), and these strings must parse
// back with time.ParseDuration, as plan keys' defaults do.
func Duration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	var b strings.Builder
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
		d -= m * time.Minute
	}
	if s := d / time.Second; s > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
