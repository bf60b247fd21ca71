package rclone

import (
	"testing"

	"github.com/alexandria-backup/alexandria-backup/drivers/internal/guard"
	"github.com/alexandria-backup/alexandria-backup/internal/proc"
)

// The guard's listing reaches the counter in whatever pieces the pipe
// delivers: a line split anywhere, even inside its kind, and a last line
// without its newline, count the same as the whole text at once.
func TestCombinedCounterAcrossPieces(t *testing.T) {
	report := "= books/a.epub\n* books/b.epub\n+ new book.pdf\n- gone/c.epub\n- gone/d.epub\n! locked.epub\n= last.epub"
	want := guard.MirrorCounts{Source: 4, Mirror: 5, Deletes: 2}
	for size := 1; size <= len(report); size++ {
		var c combinedCounter
		lines := &proc.Lines{Fn: c.line}
		for i := 0; i < len(report); i += size {
			lines.Write([]byte(report[i:min(i+size, len(report))]))
		}
		lines.Close()
		if c.MirrorCounts != want || c.bad != 1 || c.err != nil {
			t.Fatalf("in pieces of %d bytes: %+v, %d unreadable, %v", size, c.MirrorCounts, c.bad, c.err)
		}
	}
	var c combinedCounter
	(&proc.Lines{Fn: c.line}).Write([]byte("= a\n?? b\n= c\n"))
	if c.err == nil || c.Mirror != 1 {
		t.Fatalf("a line it cannot read: %+v %v", c.MirrorCounts, c.err)
	}
}
