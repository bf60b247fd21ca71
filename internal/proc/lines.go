package proc

import "bytes"

// Lines is an io.Writer that hands Fn each complete line written to it,
// without its newline, as the output arrives: a tool that prints a line
// per file (100,000 of them) is read in bounded memory, never buffered
// whole. The slice is valid only during the call. Close hands over a last
// line that has no newline.
type Lines struct {
	Fn      func(line []byte)
	partial []byte // the start of a line whose end has not come yet
}

func (l *Lines) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.partial = append(l.partial, b...)
			break
		}
		if len(l.partial) > 0 {
			l.partial = append(l.partial, b[:i]...)
			l.Fn(l.partial)
			l.partial = l.partial[:0]
		} else {
			l.Fn(b[:i])
		}
		b = b[i+1:]
	}
	return n, nil
}

// Close hands over the last line if it had no newline.
func (l *Lines) Close() error {
	if len(l.partial) > 0 {
		l.Fn(l.partial)
		l.partial = nil
	}
	return nil
}
