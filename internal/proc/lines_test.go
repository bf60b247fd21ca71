package proc

import (
	"strings"
	"testing"
)

// Lines hands over the same lines whatever pieces the output comes in: a
// line split anywhere, several in one piece, an empty line, and a last
// line without its newline.
func TestLinesAcrossPieces(t *testing.T) {
	const out = "first line\n\nthird: a longer one\r\nlast, no newline"
	want := []string{"first line", "", "third: a longer one\r", "last, no newline"}
	for size := 1; size <= len(out); size++ {
		var got []string
		l := &Lines{Fn: func(b []byte) { got = append(got, string(b)) }}
		for i := 0; i < len(out); i += size {
			l.Write([]byte(out[i:min(i+size, len(out))]))
		}
		l.Close()
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("in pieces of %d bytes: %q", size, got)
		}
	}
}
