package drivers

import (
	"context"
	"testing"
)

// BenchmarkTailWrite: keeping the tail of a tool's output must stay cheap
// and allocation-free however much the tool prints.
func BenchmarkTailWrite(b *testing.B) {
	tail := NewTail(DefaultTail)
	line := []byte(`{"message_type":"status","percent_done":0.5,"total_files":100000,"files_done":50000}` + "\n")
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		tail.Write(line)
	}
}

// BenchmarkExecutorOutput runs a real child printing 64 MiB: bytes/op and
// allocs/op show that memory does not grow with output (the target: under
// 1 MiB allocated per run whatever the output size).
func BenchmarkExecutorOutput(b *testing.B) {
	const size = 64 << 20
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (ProcessExecutor{}).Run(context.Background(), Command{Program: "head", Args: []string{"-c", "67108864", "/dev/zero"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProgressRestic: restic prints a JSON status line 60 times a
// second for the whole backup; reading them must cost next to nothing
// (the target: well under 10 µs a line, so under 0.1% of one core).
func BenchmarkProgressRestic(b *testing.B) {
	line := []byte(`{"message_type":"status","seconds_elapsed":12,"seconds_remaining":30,"percent_done":0.2871,"total_files":100000,"files_done":28710,"total_bytes":1099511627776,"bytes_done":315680000000,"current_files":["/srv/alexandria/library/books/some-author/some-book.epub"]}` + "\n")
	w := newProgressWriter(&ProgressReader{Parse: parseResticStatus}, func(Progress) {}, NewTail(DefaultTail))
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}

// BenchmarkProgressRsync: rsync --info=progress2 lines, split at \r.
func BenchmarkProgressRsync(b *testing.B) {
	line := []byte("  315,680,000,000  28%  112.34MB/s    2:40:10 (xfr#28710, to-chk=71290/100000)\r")
	w := newProgressWriter(&ProgressReader{Parse: parseRsyncProgress}, func(Progress) {}, NewTail(DefaultTail))
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}
