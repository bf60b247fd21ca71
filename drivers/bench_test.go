package drivers

import "testing"

// The executor's own benchmarks (output tails, a 64 MiB child, splitting
// output into lines) are in internal/proc. These measure each tool's
// progress parser on one line of its output.

// BenchmarkProgressRestic: restic prints a JSON status line 60 times a
// second for the whole backup; reading them must cost next to nothing
// (the target: well under 10 µs a line, so under 0.1% of one core).
func BenchmarkProgressRestic(b *testing.B) {
	line := []byte(`{"message_type":"status","seconds_elapsed":12,"seconds_remaining":30,"percent_done":0.2871,"total_files":100000,"files_done":28710,"total_bytes":1099511627776,"bytes_done":315680000000,"current_files":["/srv/alexandria/library/books/some-author/some-book.epub"]}`)
	b.SetBytes(int64(len(line)) + 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := parseResticStatus(line); !ok {
			b.Fatal("not read as progress")
		}
	}
}

// BenchmarkProgressRsync: rsync --info=progress2 lines (split at \r).
func BenchmarkProgressRsync(b *testing.B) {
	line := []byte("  315,680,000,000  28%  112.34MB/s    2:40:10 (xfr#28710, to-chk=71290/100000)")
	b.SetBytes(int64(len(line)) + 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := parseRsyncProgress(line); !ok {
			b.Fatal("not read as progress")
		}
	}
}
