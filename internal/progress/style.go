package progress

// Style is what may be sent to a terminal beyond plain text, as the
// environment asks: https://no-color.org (NO_COLOR set and non-empty: no
// colour) and TERM=dumb (no escape codes at all: no colour, no cursor
// movement, no line rewriting). Every styled output asks it first.
type Style struct {
	Color  bool // SGR colour and bold
	Cursor bool // rewriting lines in place: the live progress display
}

// StyleFrom reads the style from the environment through getenv
// (os.Getenv; a map in tests). An unset TERM is taken as capable: a
// pseudo-terminal started without one (a container's exec -t) still
// draws, and only TERM=dumb says it cannot.
func StyleFrom(getenv func(string) string) Style {
	if getenv("TERM") == "dumb" {
		return Style{}
	}
	return Style{Color: getenv("NO_COLOR") == "", Cursor: true}
}

// SGR sequences; reset ends each one.
const (
	bold   = "\x1b[1m"
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	reset  = "\x1b[0m"
)

// paint wraps s in code when colour is allowed.
func (st Style) paint(code, s string) string {
	if !st.Color || s == "" {
		return s
	}
	return code + s + reset
}
