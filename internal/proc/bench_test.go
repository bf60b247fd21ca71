package proc

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

// BenchmarkProgressWriter: splitting a tool's output into lines at \n and
// \r costs next to nothing beside the tool's parser (see the drivers'
// BenchmarkProgress*, which measure each parser on its tool's line).
func BenchmarkProgressWriter(b *testing.B) {
	line := []byte("  315,680,000,000  28%  112.34MB/s    2:40:10 (xfr#28710, to-chk=71290/100000)\r")
	w := newProgressWriter(&ProgressReader{Parse: func([]byte) (Progress, bool, []byte) { return Progress{}, true, nil }},
		func(Progress) {}, NewTail(DefaultTail))
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(line)
	}
}
