package schedule

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// A small YAML writer for the manifests: ordered mappings, sequences,
// strings, integers, booleans and literal blocks, with comments. It quotes
// every string YAML could read as something else, so what it writes parses
// back to exactly the values given (a test checks that with a real parser).

// yMap is a mapping whose keys keep their order.
type yMap []yKV

type yKV struct {
	Key     string
	Value   any    // yMap, ySeq, string, int, bool or yBlock
	Comment string // lines written above the key, without "# "
}

type ySeq []any

// yBlock is a string written as a literal block (|), for file contents.
type yBlock string

func writeYAML(w io.Writer, m yMap) {
	var b strings.Builder
	emitMap(&b, m, 0)
	io.WriteString(w, b.String())
}

func emitMap(b *strings.Builder, m yMap, indent int) {
	pad := strings.Repeat(" ", indent)
	for _, kv := range m {
		emitComment(b, pad, kv.Comment)
		b.WriteString(pad + yamlString(kv.Key) + ":")
		emitValue(b, kv.Value, indent)
	}
}

func emitComment(b *strings.Builder, pad, c string) {
	if c == "" {
		return
	}
	for _, l := range strings.Split(c, "\n") {
		b.WriteString(strings.TrimRight(pad+"# "+l, " ") + "\n")
	}
}

// emitValue writes what follows "key:" or "-".
func emitValue(b *strings.Builder, v any, indent int) {
	switch v := v.(type) {
	case yMap:
		if len(v) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		emitMap(b, v, indent+2)
	case ySeq:
		if len(v) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteString("\n")
		emitSeq(b, v, indent+2)
	case yBlock:
		emitBlock(b, string(v), indent+2)
	default:
		b.WriteString(" " + yamlScalar(v) + "\n")
	}
}

func emitSeq(b *strings.Builder, s ySeq, indent int) {
	pad := strings.Repeat(" ", indent)
	for _, item := range s {
		m, isMap := item.(yMap)
		if !isMap || len(m) == 0 {
			b.WriteString(pad + "-")
			emitValue(b, item, indent)
			continue
		}
		// The mapping's first key goes on the dash's line, the others
		// under it.
		emitComment(b, pad, m[0].Comment)
		b.WriteString(pad + "- " + yamlString(m[0].Key) + ":")
		emitValue(b, m[0].Value, indent+2)
		emitMap(b, m[1:], indent+2)
	}
}

// emitBlock writes s as a literal block, or quoted when a block cannot
// hold it exactly.
func emitBlock(b *strings.Builder, s string, indent int) {
	if strings.TrimSpace(s) == "" || strings.ContainsRune(s, '\r') || !isPrintable(s) {
		b.WriteString(" " + strconv.Quote(s) + "\n")
		return
	}
	header := "|"
	if s[0] == ' ' || s[0] == '\n' {
		header += "2" // the indentation cannot be guessed from the first line
	}
	body := strings.TrimRight(s, "\n")
	switch trailing := len(s) - len(body); {
	case trailing == 0:
		header += "-"
	case trailing > 1:
		header += "+"
	}
	b.WriteString(" " + header + "\n")
	pad := strings.Repeat(" ", indent)
	for _, l := range strings.Split(body, "\n") {
		if l == "" {
			b.WriteString("\n")
		} else {
			b.WriteString(pad + l + "\n")
		}
	}
	for i := 1; i < len(s)-len(body); i++ {
		b.WriteString("\n")
	}
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r != '\n' && r != '\t' && (r < 0x20 || r == 0x7f || r == 0xfeff) {
			return false
		}
	}
	return true
}

func yamlScalar(v any) string {
	switch v := v.(type) {
	case string:
		return yamlString(v)
	case int:
		return strconv.Itoa(v)
	case bool:
		return strconv.FormatBool(v)
	}
	panic(fmt.Sprintf("yaml: cannot write %T", v))
}

var plainRE = regexp.MustCompile(`^(--?[A-Za-z]|[A-Za-z_/])[A-Za-z0-9_./-]*$`)

// yamlString leaves a string plain only when no YAML version could read it
// as anything but that string; otherwise it is double-quoted (Go's escapes
// are YAML escapes too).
func yamlString(s string) string {
	if plainRE.MatchString(s) {
		switch strings.ToLower(s) {
		case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		default:
			return s
		}
	}
	return strconv.Quote(s)
}
