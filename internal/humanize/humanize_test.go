package humanize

import (
	"testing"
	"time"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 10 << 20: "10 MiB",
		101184426: "96 MiB", 3 << 40: "3.0 TiB", -1536: "-1.5 KiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", -time.Second: "0s", 1500 * time.Millisecond: "2s",
		45 * time.Minute: "45m", time.Hour: "1h", 90 * time.Minute: "1h30m", 26*time.Hour + 3*time.Second: "26h3s"} {
		if got := Duration(d); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
}
