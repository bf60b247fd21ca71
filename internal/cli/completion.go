package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/alexandria-backup/alexandria-backup/plan"
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script (e.g. source <(alexandria-backup completion bash))",
		ArgsUsage: "bash|zsh|fish",
		Action:    cmdCompletion,
	}
}

// completeCommand is what the completion scripts call with the words typed
// so far; it only prints candidates and never runs anything.
func completeCommand() *cli.Command {
	return &cli.Command{
		Name:   "__complete",
		Hidden: true,
		Action: cmdComplete,
	}
}

func cmdCompletion(c *cli.Context) error {
	a, err := args(c, 1, 1)
	if err != nil {
		return err
	}
	script, ok := completionScripts[a[0]]
	if !ok {
		return usage("completion: %q is not bash, zsh or fish", a[0])
	}
	_, err = fmt.Fprint(c.App.Writer, script)
	return err
}

// The scripts ask the program itself (`__complete -- WORDS...`) for
// candidates: commands, flags, and the plan and target names of the plan
// file in use.
var completionScripts = map[string]string{
	"bash": `# bash completion for alexandria-backup. Load it with
#   source <(alexandria-backup completion bash)
# or save it as /usr/share/bash-completion/completions/alexandria-backup.
_alexandria_backup() {
    local IFS=$'\n'
    COMPREPLY=($("${COMP_WORDS[0]}" __complete -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _alexandria_backup alexandria-backup
`,
	"zsh": `#compdef alexandria-backup
# zsh completion for alexandria-backup. Save it as _alexandria-backup in a
# directory of $fpath, or load it after compinit with
#   source <(alexandria-backup completion zsh)
_alexandria-backup() {
  local -a candidates
  candidates=("${(@f)$("${words[1]}" __complete -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ -n "${candidates[1]}" ]]; then
    compadd -a candidates
  else
    _files
  fi
}
if [[ "${funcstack[1]}" == "_alexandria-backup" ]]; then
  _alexandria-backup "$@"
else
  compdef _alexandria-backup alexandria-backup
fi
`,
	"fish": `# fish completion for alexandria-backup. Save it as
# ~/.config/fish/completions/alexandria-backup.fish, or load it with
#   alexandria-backup completion fish | source
function __alexandria_backup_complete
    set -l tokens (commandline -opc)
    set -l prog $tokens[1]
    set -e tokens[1]
    set -l cur (commandline -ct)
    set -q cur[1]; or set cur ''
    $prog __complete -- $tokens $cur 2>/dev/null
end
complete -c alexandria-backup -f -a '(__alexandria_backup_complete)'
complete -c alexandria-backup -s c -l config -r -F
`,
}

// cmdComplete prints the candidates for the last word, given the words
// typed after the program name.
func cmdComplete(c *cli.Context) error {
	for _, s := range completions(c.App, c.Args().Slice()) {
		fmt.Fprintln(c.App.Writer, s)
	}
	return nil
}

func completions(app *cli.App, words []string) []string {
	if len(words) == 0 {
		words = []string{""}
	}
	cur, before := words[len(words)-1], words[:len(words)-1]
	if cur == "=" {
		return nil // bash split "--plan=" at "="; it would replace the "="
	}
	var cmd *cli.Command
	config, pending := "", "" // pending: a flag waiting for its value
	positional := 0
	for _, w := range before {
		switch {
		case w == "=": // bash splits "--flag=value" into three words
		case pending != "":
			if pending == "config" {
				config = w
			}
			pending = ""
		case isFlag(w):
			f := lookupFlag(flagsOf(app, cmd), w)
			if f == nil {
				continue
			}
			name, value, inline := strings.Cut(strings.TrimLeft(w, "-"), "=")
			name = f.Names()[0]
			if takesValue(f) && !inline {
				pending = name
			} else if name == "config" {
				config = value
			}
		case cmd == nil:
			for _, c := range app.Commands {
				if c.HasName(w) {
					cmd = c
				}
			}
		default:
			positional++
		}
	}
	var cands []string
	switch {
	case pending != "":
		cands = flagValues(pending, config)
	case strings.HasPrefix(cur, "-"):
		seen := map[string]bool{}
		for _, f := range flagsOf(app, cmd) {
			if n := "--" + f.Names()[0]; !seen[n] {
				seen[n] = true
				cands = append(cands, n)
			}
		}
	case cmd == nil:
		cands = commandNames(app)
	case positional == 0 && strings.Contains(cmd.ArgsUsage, "|"):
		cands = strings.Split(cmd.ArgsUsage, "|")
	case strings.Contains(cmd.ArgsUsage, "TARGET"):
		cands = planNamesFrom(config, false)
	case positional == 0 && strings.Contains(cmd.ArgsUsage, "PLAN"):
		cands = planNamesFrom(config, true)
	}
	var out []string
	for _, s := range cands {
		if strings.HasPrefix(s, cur) {
			out = append(out, s)
		}
	}
	return out
}

func flagsOf(app *cli.App, cmd *cli.Command) []cli.Flag {
	if cmd == nil {
		return app.VisibleFlags()
	}
	return append(cmd.VisibleFlags(), app.VisibleFlags()...)
}

func flagValues(flag, config string) []string {
	switch flag {
	case "plan":
		return planNamesFrom(config, true)
	case "target":
		return planNamesFrom(config, false)
	case "log-level":
		return []string{"debug", "info", "warn", "error"}
	case "log-format":
		return []string{"text", "json"}
	}
	return nil // --config and the others: the shell offers files
}

// planNamesFrom lists the plans (or targets) of the plan file a command
// line would use; nothing when it cannot be read.
func planNamesFrom(config string, plans bool) []string {
	path, err := plan.Find(config)
	if err != nil {
		return nil
	}
	p, err := plan.Load(path)
	if err != nil {
		return nil
	}
	if !plans {
		return p.Order
	}
	names := planNames(p)
	sort.Strings(names)
	return names
}
