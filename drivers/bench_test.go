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
