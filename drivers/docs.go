package drivers

import (
	"fmt"
	"strings"
)

// OptionsMarkdown renders every plan key as Markdown tables, one per
// driver: the README's reference is generated from the declarations, and
// a test keeps it in step.
func OptionsMarkdown(ds []Driver) string {
	var b strings.Builder
	table := func(title string, opts []Option) {
		fmt.Fprintf(&b, "#### %s\n\n| key | type | default | meaning |\n|---|---|---|---|\n", title)
		for _, o := range opts {
			def := o.Default
			if o.Required {
				def = "required"
				if o.Unless != "" {
					def += " unless `" + o.Unless + "`"
				}
			}
			kind := strings.TrimPrefix(strings.TrimPrefix(o.Kind.String(), "a "), "an ")
			if len(o.Enum) > 0 {
				kind = strings.Join(o.Enum, " \\| ")
			} else if o.Max > o.Min {
				kind = fmt.Sprintf("%s %d–%d", kind, o.Min, o.Max)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", o.Name, kind, def, strings.ReplaceAll(o.Help, "|", "\\|"))
		}
		b.WriteString("\n")
	}
	table("Every target", CommonOptions)
	for _, d := range ds {
		table("driver = \""+d.Name()+"\"", d.Options())
	}
	return b.String()
}
