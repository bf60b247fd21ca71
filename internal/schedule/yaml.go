package schedule

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The manifests are built as ordered mappings with comments (yMap) and
// written by go.yaml.in/yaml/v3 as node trees: the encoder does the
// quoting and the literal blocks, the nodes keep the keys' order and the
// comments a typed struct would lose.

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

// writeYAML writes m as one YAML document, indented by two spaces.
func writeYAML(w io.Writer, m yMap) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(node(m)); err != nil {
		return err
	}
	return enc.Close()
}

func node(v any) *yaml.Node {
	switch v := v.(type) {
	case yMap:
		n := &yaml.Node{Kind: yaml.MappingNode}
		if len(v) == 0 {
			n.Style = yaml.FlowStyle // {}
		}
		for _, kv := range v {
			key := str(kv.Key)
			key.HeadComment = comment(kv.Comment)
			n.Content = append(n.Content, key, node(kv.Value))
		}
		return n
	case ySeq:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if len(v) == 0 {
			n.Style = yaml.FlowStyle // []
		}
		for _, item := range v {
			c := node(item)
			if c.Kind == yaml.MappingNode && len(c.Content) > 0 {
				// A comment above the item's first key goes above its dash.
				c.HeadComment, c.Content[0].HeadComment = c.Content[0].HeadComment, ""
			}
			n.Content = append(n.Content, c)
		}
		return n
	case yBlock:
		n := scalar("!!str", string(v))
		n.Style = yaml.LiteralStyle // the encoder quotes what a block cannot hold
		return n
	case string:
		return str(v)
	case int:
		return scalar("!!int", strconv.Itoa(v))
	case bool:
		return scalar("!!bool", strconv.FormatBool(v))
	}
	panic(fmt.Sprintf("yaml: cannot write %T", v))
}

// comment writes each line as "# line" ("#" when empty: the encoder would
// leave an empty line out of the comment).
func comment(c string) string {
	if c == "" {
		return ""
	}
	lines := strings.Split(c, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight("# "+l, " ")
	}
	return strings.Join(lines, "\n")
}

// str is a string scalar, double-quoted unless plain on the safe side of
// both YAML versions: the encoder follows YAML 1.2, where yes, on and 1:20
// are strings, but Kubernetes' reader and PyYAML follow 1.1, where they
// are a boolean and a number.
func str(s string) *yaml.Node {
	n := scalar("!!str", s)
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		n.Style = yaml.DoubleQuotedStyle
	default:
		if !plainRE.MatchString(s) {
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	return n
}

// plainRE matches strings no YAML version reads as anything else.
var plainRE = regexp.MustCompile(`^(--?[A-Za-z]|[A-Za-z_/])[A-Za-z0-9_./-]*$`)

func scalar(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}
