package proc

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

// parseStatus stands for a tool's progress parser: a JSON line with
// "status" is progress, any other line stays in the tail as it is.
func parseStatus(line []byte) (Progress, bool, []byte) {
	var s struct {
		Status bool  `json:"status"`
		Done   int64 `json:"done"`
		Total  int64 `json:"total"`
	}
	if json.Unmarshal(line, &s) != nil || !s.Status {
		return Progress{}, false, line
	}
	return Progress{Bytes: s.Done, Total: s.Total, Percent: 100 * float64(s.Done) / float64(s.Total), ETA: -1}, true, nil
}

// TestProgressLinesStayOutOfTheOutputTail: the executor hands progress to
// the trace and keeps everything else, so what a driver reads from the
// output (a summary, an error) is what it was without progress. A line
// ends at \n or at \r, as terminal progress does.
func TestProgressLinesStayOutOfTheOutputTail(t *testing.T) {
	script := `printf '{"status":true,"done":5,"total":10}\n'
printf '{"status":true,"done":10,"total":10}\r'
printf '{"summary":"abc"}\n'
printf 'Fatal: something\n' >&2`
	for _, stderr := range []bool{false, true} {
		s := script
		if stderr {
			// Progress on stderr (rsync, borg, rclone); errors with it.
			s = "{\n" + script + "\n} >&2"
		}
		c := Command{Program: "sh", Args: []string{"-c", s}, Progress: &ProgressReader{Stderr: stderr, Parse: parseStatus}}
		var mu sync.Mutex
		var updates []Progress
		var commands []string
		ctx := WithTrace(context.Background(), &Trace{
			Started: func(cmdline string) { commands = append(commands, cmdline) },
			Progress: func(p Progress) {
				mu.Lock()
				defer mu.Unlock()
				updates = append(updates, p)
			},
		})
		res, err := ProcessExecutor{}.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		out, other := res.Stdout, res.Stderr
		if stderr {
			out, other = res.Stderr, res.Stdout
		}
		if got := string(out); strings.Contains(got, "status") || !strings.Contains(got, `{"summary":"abc"}`) ||
			stderr != strings.Contains(got, "Fatal: something") {
			t.Errorf("stderr=%v: the tail progress is read from holds %q, want the summary (and the error) only", stderr, got)
		}
		if !stderr && strings.TrimSpace(string(other)) != "Fatal: something" {
			t.Errorf("stderr = %q", other)
		}
		mu.Lock()
		if len(updates) != 2 || updates[1].Bytes != 10 || updates[1].Percent != 100 {
			t.Errorf("stderr=%v: updates = %+v", stderr, updates)
		}
		mu.Unlock()
		if len(commands) != 1 || !strings.Contains(commands[0], "sh -c") {
			t.Errorf("trace saw commands %q", commands)
		}
	}
}

// A line longer than maxLine is not held forever: it goes to the tail.
func TestProgressWriterBoundsALine(t *testing.T) {
	tail := NewTail(4 << 20)
	w := newProgressWriter(&ProgressReader{Parse: parseStatus}, nil, tail)
	w.Write([]byte(strings.Repeat("x", maxLine+10)))
	if len(w.line) > maxLine {
		t.Errorf("holding %d bytes of one line", len(w.line))
	}
	w.flush()
	if tail.Total() < maxLine {
		t.Errorf("the long line did not reach the tail (%d bytes)", tail.Total())
	}
}

// An unfinished last line is judged once the tool has exited, and a line
// a parser rewrites reaches the tail rewritten (or not at all).
func TestProgressWriterKeepsWhatTheParserKeeps(t *testing.T) {
	tail := NewTail(DefaultTail)
	var got []Progress
	w := newProgressWriter(&ProgressReader{Parse: func(line []byte) (Progress, bool, []byte) {
		switch {
		case bytes.HasPrefix(line, []byte("drop")):
			return Progress{}, false, nil
		case bytes.HasPrefix(line, []byte("log ")):
			return Progress{}, false, bytes.ToUpper(line[4:])
		}
		return parseStatus(line)
	}}, func(p Progress) { got = append(got, p) }, tail)
	w.Write([]byte("drop me\nlog hello\n\n{\"status\":true,\"done\":1,\"total\":4}\rlast"))
	if string(tail.Bytes()) != "HELLO\n" || len(got) != 1 || got[0].Percent != 25 {
		t.Fatalf("before flush: tail %q, progress %+v", tail.Bytes(), got)
	}
	w.flush()
	if string(tail.Bytes()) != "HELLO\nlast\n" {
		t.Fatalf("after flush: tail %q", tail.Bytes())
	}
}
