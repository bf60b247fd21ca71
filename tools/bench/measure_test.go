package main

import (
	"context"
	"io"
	"testing"
)

// The counters of a step include what its descendants read and wrote: a
// grandchild (head, started by bash) moves 8 MiB.
func TestMeasureCountsTheProcessTree(t *testing.T) {
	const n = 8 << 20
	u, err := measure(context.Background(), []string{"bash", "-c", "head -c 8388608 /dev/zero | cat > /dev/null; true"}, nil, t.TempDir(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// head reads n, cat reads n from the pipe; both write n.
	if u.rchar < 2*n || u.wchar < 2*n {
		t.Errorf("rchar %d, wchar %d: want at least %d each (the grandchildren's I/O)", u.rchar, u.wchar, 2*n)
	}
	if u.selfPeakRSS <= 0 || u.treeMaxRSS <= 0 {
		t.Errorf("peak RSS %d, tree max RSS %d: want both > 0", u.selfPeakRSS, u.treeMaxRSS)
	}
}

func TestMeasureReportsExitCode(t *testing.T) {
	_, err := measure(context.Background(), []string{"bash", "-c", "echo oops; exit 7"}, nil, t.TempDir(), io.Discard)
	se, ok := err.(*stepError)
	if !ok || se.code != 7 || se.output != "oops" {
		t.Fatalf("err = %#v, want a stepError with code 7 and output oops", err)
	}
	if _, err := measure(context.Background(), []string{"bash", "-c", "exit 3"}, nil, t.TempDir(), io.Discard, 3); err != nil {
		t.Fatalf("exit 3 with okCodes 3: %v", err)
	}
}
