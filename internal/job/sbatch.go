package job

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxScriptSize is the largest batch script accepted, in bytes: Slurm's
// default max_script_size, 4 MiB.
const MaxScriptSize = 4 << 20

// Errors a batch script can cause before its options are read.
var (
	// ErrScriptTooLarge marks a script over MaxScriptSize.
	ErrScriptTooLarge = errors.New("batch script too large")
	// ErrBadScript marks a script sbatch refuses: empty, without a #!
	// line, with a NUL byte or with DOS line breaks.
	ErrBadScript = errors.New("not a valid batch script")
)

// Warning is an option that was accepted but means nothing here (for
// example --mail-type: no mail is sent), or is honoured only in part. Each
// option is reported once per parse, however often it appears.
type Warning struct {
	// Line is the script line the option first appeared on; 0 is the
	// command line or the environment.
	Line    int    `json:"line,omitempty"`
	Option  string `json:"option"`
	Message string `json:"message"`
}

// String formats the warning as sbatch prints it, with its line.
func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("line %d: %s", w.Line, w.Message)
	}
	return w.Message
}

// OptionError is an option Slurm's sbatch would reject: unknown, ambiguous,
// missing its value, or with a value it cannot use.
type OptionError struct {
	// Line is the script line (1-based); 0 is the command line.
	Line int
	// Source names where the option came from when not a script line or
	// the command line, such as "SBATCH_TIMELIMIT".
	Source string
	// Option is the option as written, with its value when it has one
	// ("--time=abc").
	Option string
	Err    error
}

// Error names the line (or variable), the option and what is wrong.
func (e *OptionError) Error() string {
	switch {
	case e.Line > 0:
		return fmt.Sprintf("line %d: %s: %v", e.Line, e.Option, e.Err)
	case e.Source != "":
		return fmt.Sprintf("%s: %s: %v", e.Source, e.Option, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Option, e.Err)
}

// Unwrap returns the reason, for errors.Is (ErrBadArray, ErrBadDependency...).
func (e *OptionError) Unwrap() error { return e.Err }

// Submission holds what sbatch options say about the command itself rather
// than the job: they are not part of the Spec.
type Submission struct {
	TestOnly bool   // --test-only: check and estimate, submit nothing
	Parsable bool   // --parsable: print only the job ID
	Wait     bool   // -W/--wait: return when the job ends
	Quiet    bool   // -Q/--quiet
	Verbose  int    // -v/--verbose, counted
	Help     bool   // -h/--help or --usage
	Version  bool   // -V/--version
	Wrap     string // --wrap: the command to run instead of a script
	// WrapSet tells --wrap="" from no --wrap.
	WrapSet bool
}

// ExtraOption is a long option a caller adds to sbatch's (gefion's own
// --json or --addr). It takes part in abbreviation matching like Slurm's
// options, so "--js" means --json when nothing else starts so.
type ExtraOption struct {
	Name string
	// HasArg says the option takes a value (--addr=URL or --addr URL).
	HasArg bool
	// Set receives the value ("" for options without one).
	Set func(value string) error
}

// Parser reads sbatch options from the command line, the environment and
// #SBATCH lines. The zero value is ready to use. Reuse one Parser for one
// submission: it reports each warning once across all its calls and
// gathers Submission.
type Parser struct {
	// Now is the time --begin's relative forms ("now+1hour", "16:00")
	// count from; nil means time.Now.
	Now func() time.Time
	// MaxArraySize bounds --array indices; 0 is DefaultMaxArraySize.
	MaxArraySize int
	// Extra lists the caller's own long options.
	Extra []ExtraOption

	// Submission is filled by the options that steer the command.
	Submission Submission

	warned map[string]bool
}

// ParseScript reads the #SBATCH lines of a batch script into a new Spec
// (with Script set to the text) and returns the warnings for options that
// mean nothing here. An option Slurm would reject returns an *OptionError
// naming the line; a script sbatch refuses returns ErrBadScript or
// ErrScriptTooLarge.
func ParseScript(script []byte) (*Spec, []Warning, error) {
	var p Parser
	s := &Spec{}
	w, err := p.Script(script, s)
	if err != nil {
		return nil, w, err
	}
	return s, w, nil
}

// ParseOptions applies sbatch command-line options to spec, as sbatch does
// after reading the script (so they override #SBATCH lines), and returns
// the arguments after the options: the script path and its arguments.
// Options that steer the command rather than the job (--test-only, --wrap,
// --parsable...) are accepted and dropped; use a Parser to read them.
func ParseOptions(args []string, spec *Spec) ([]string, []Warning, error) {
	var p Parser
	return p.Args(args, spec)
}

// CheckScript applies sbatch's checks on a script before its options are
// read: at most MaxScriptSize bytes, not empty or only white space, a #!
// first line, no NUL byte and no DOS (\r\n) line breaks.
func CheckScript(script []byte) error {
	switch {
	case len(script) > MaxScriptSize:
		return fmt.Errorf("%w: %d bytes is over the limit of %d (4 MiB); keep data out of the script and read it from a file", ErrScriptTooLarge, len(script), MaxScriptSize)
	case len(script) == 0:
		return fmt.Errorf("%w: the script is empty", ErrBadScript)
	case len(bytes.TrimSpace(script)) == 0:
		return fmt.Errorf("%w: the script holds only white space", ErrBadScript)
	case !bytes.HasPrefix(script, []byte("#!")):
		return fmt.Errorf("%w: the first line must start with #! and the path to an interpreter, for instance #!/bin/bash", ErrBadScript)
	case bytes.IndexByte(script, 0) >= 0:
		return fmt.Errorf("%w: the script contains a NUL byte", ErrBadScript)
	case bytes.Contains(script, []byte("\r\n")):
		return fmt.Errorf("%w: the script has DOS line breaks (\\r\\n); convert it with dos2unix", ErrBadScript)
	}
	return nil
}

// WrapScript returns the script sbatch --wrap runs: the command under
// #!/bin/sh.
func WrapScript(command string) []byte {
	return []byte("#!/bin/sh\n# This script was created by sbatch --wrap.\n\n" + command + "\n")
}

// Script checks a batch script and applies its #SBATCH lines to spec, and
// sets spec.Script. Directives count only before the first command line
// (blank lines and comments, the #! line among them, do not end them);
// "#SBATCH" must start the line; values may be quoted; an unquoted # starts
// a comment. #SLURM lines are read too, with a warning, as Slurm does.
func (p *Parser) Script(script []byte, spec *Spec) ([]Warning, error) {
	if err := CheckScript(script); err != nil {
		return nil, err
	}
	args, warns, err := directives(script)
	if err != nil {
		return warns, err
	}
	a := p.newApply(spec, srcScript, "")
	i, err := p.run(args, a)
	warns = append(warns, a.warns...)
	if err != nil {
		return warns, err
	}
	if i < len(args) {
		return warns, &OptionError{Line: args[i].line, Option: args[i].text,
			Err: errors.New("not an option: #SBATCH lines hold only options (is a value missing its option, or an optional value missing its '='?)")}
	}
	spec.Script = string(script)
	return warns, nil
}

// Args applies command-line options to spec and returns the arguments
// after them. As in sbatch, options end at the first argument that is not
// one (the script) or at "--".
func (p *Parser) Args(args []string, spec *Spec) ([]string, []Warning, error) {
	as := make([]arg, len(args))
	for i, s := range args {
		as[i] = arg{text: s}
	}
	a := p.newApply(spec, srcCommandLine, "")
	i, err := p.run(as, a)
	if err != nil {
		return nil, a.warns, err
	}
	return args[i:], a.warns, nil
}

// Environment applies the SBATCH_* input environment variables to spec,
// as sbatch does between the script and the command line: they override
// #SBATCH lines and are overridden by options. getenv reads a variable.
func (p *Parser) Environment(getenv func(string) string, spec *Spec) ([]Warning, error) {
	var warns []Warning
	for _, ev := range envOptions {
		v := getenv(ev.name)
		if v == "" {
			continue
		}
		a := p.newApply(spec, srcEnv, ev.name)
		var err error
		switch ev.option {
		case "switches-count":
			n, perr := parseInt(v, true)
			if perr != nil {
				err = a.errorf("--switches="+v, perr)
			} else {
				spec.MaxSUs = n
			}
		case "switches-wait":
			w, perr := ParseTime(v)
			if perr != nil {
				err = a.errorf("--switches=@"+v, perr)
			} else {
				spec.MaxSUsWaitS = w
			}
		default:
			o := lookupOption(ev.option)
			val, has := v, o.arg != noArg
			if !has {
				val = ""
			}
			_, err = p.applyOne(a, o, val, has, "--"+o.long+"="+v)
		}
		warns = append(warns, a.warns...)
		if err != nil {
			return warns, err
		}
	}
	return warns, nil
}

// source says where options come from; a few rules depend on it.
type source uint8

const (
	srcScript source = iota
	srcEnv
	srcCommandLine
)

// arg is one option word and the script line it came from.
type arg struct {
	text string
	line int
}

// apply carries one parse call's state.
type apply struct {
	p      *Parser
	spec   *Spec
	src    source
	env    string // the variable, for srcEnv
	line   int    // the line of the option being applied
	warns  []Warning
	memOpt string // which of --mem, --mem-per-cpu, --mem-per-gpu this call set
}

func (p *Parser) newApply(spec *Spec, src source, env string) *apply {
	return &apply{p: p, spec: spec, src: src, env: env}
}

// warn records a warning once per option for the parser's life.
func (a *apply) warn(option, format string, args ...any) {
	if a.p.warned == nil {
		a.p.warned = map[string]bool{}
	}
	if a.p.warned[option] {
		return
	}
	a.p.warned[option] = true
	a.warns = append(a.warns, Warning{Line: a.line, Option: option, Message: fmt.Sprintf(format, args...)})
}

func (p *Parser) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// directives returns the option words of a script's #SBATCH lines, each
// with its line number, split as sbatch splits them.
func directives(script []byte) ([]arg, []Warning, error) {
	var args []arg
	var warns []Warning
	lineNo := 0
	for len(script) > 0 {
		lineNo++
		var line []byte
		if i := bytes.IndexByte(script, '\n'); i >= 0 {
			line, script = script[:i], script[i+1:]
		} else {
			line, script = script, nil
		}
		var rest []byte
		switch {
		case bytes.HasPrefix(line, []byte("#SBATCH")):
			rest = line[len("#SBATCH"):]
		case bytes.HasPrefix(line, []byte("#SLURM")):
			rest = line[len("#SLURM"):]
			if len(warns) == 0 || warns[0].Option != "#SLURM" {
				warns = append([]Warning{{Line: lineNo, Option: "#SLURM",
					Message: "#SLURM lines are read as #SBATCH lines: change them to #SBATCH"}}, warns...)
			}
		default:
			t := bytes.TrimLeft(line, " \t\v\f\r")
			if len(t) > 0 && t[0] != '#' {
				return args, warns, nil // the first command ends the directives
			}
			continue
		}
		words, err := splitDirective(string(rest))
		if err != nil {
			return nil, warns, &OptionError{Line: lineNo, Option: "#SBATCH", Err: err}
		}
		for _, w := range words {
			args = append(args, arg{text: w, line: lineNo})
		}
	}
	return args, warns, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// splitDirective splits the rest of an #SBATCH line into words as sbatch
// does: white space separates words; single or double quotes group
// characters (and are removed); a backslash makes the next character
// literal; an unquoted, unescaped # ends the line. A word that comes out
// empty ("") also ends the line, as in sbatch.
func splitDirective(s string) ([]string, error) {
	var words []string
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i >= len(s) {
			return words, nil
		}
		if words == nil {
			if w, ok := hetSeparator(s[i:]); ok {
				return nil, fmt.Errorf("heterogeneous jobs (%q) are not supported here: submit the components as separate jobs, joined with --dependency if needed", w)
			}
		}
		if s[i] == ':' {
			return nil, errors.New("unexpected ':' (heterogeneous job separators are not supported)")
		}
		var b strings.Builder
		got := false
		var quote byte
		for i < len(s) && (quote != 0 || !isSpace(s[i])) {
			c := s[i]
			switch {
			case c == '\\':
				i++
				if i >= len(s) || (quote == 0 && isSpace(s[i]) && s[i] != ' ') {
					continue
				}
				b.WriteByte(s[i])
				got = true
				i++
			case quote != 0:
				if c == quote {
					quote = 0
				} else {
					b.WriteByte(c)
					got = true
				}
				i++
			case c == '"' || c == '\'':
				quote = c
				i++
			case c == '#': // unquoted: the rest of the line is a comment
				if got {
					words = append(words, b.String())
				}
				return words, nil
			default:
				b.WriteByte(c)
				got = true
				i++
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("unmatched %c: close the quote on the same line", quote)
		}
		if !got {
			return words, nil
		}
		words = append(words, b.String())
	}
}

// hetSeparator reports whether a line starts with sbatch's heterogeneous
// job separator, "hetjob" or the older "packjob".
func hetSeparator(s string) (string, bool) {
	for _, w := range []string{"hetjob", "packjob"} {
		if len(s) >= len(w) && strings.EqualFold(s[:len(w)], w) && (len(s) == len(w) || isSpace(s[len(w)])) {
			return w, true
		}
	}
	return "", false
}

// run parses option words as getopt_long does in sbatch (options end at
// the first non-option or "--"; long options may be abbreviated) and
// applies them. It returns the index of the first word it did not use.
func (p *Parser) run(args []arg, a *apply) (int, error) {
	i := 0
	for i < len(args) {
		s := args[i].text
		a.line = args[i].line
		if s == "--" {
			return i + 1, nil
		}
		if len(s) < 2 || s[0] != '-' {
			return i, nil
		}
		if s[1] == '-' {
			name, val, hasVal := strings.Cut(s[2:], "=")
			o, extra, err := p.lookupLong(name)
			if err != nil {
				return i, a.errorf("--"+name, err)
			}
			hasArg := (o != nil && o.arg != noArg) || (extra != nil && extra.HasArg)
			optional := o != nil && o.arg == optionalArg
			canonical := "--" + name
			if o != nil {
				canonical = "--" + o.long
			} else {
				canonical = "--" + extra.Name
			}
			switch {
			case hasVal && !hasArg:
				return i, a.errorf(canonical+"="+val, errors.New("this option takes no value"))
			case !hasVal && hasArg && !optional:
				if i+1 >= len(args) {
					return i, a.errorf(canonical, errors.New("this option needs a value"))
				}
				i++
				val, hasVal = args[i].text, true
			}
			written := canonical
			if hasVal {
				written += "=" + val
			}
			if extra != nil {
				if a.src != srcCommandLine {
					return i, a.errorf(written, errors.New("unrecognized option"))
				}
				if err := extra.Set(val); err != nil {
					return i, a.errorf(written, err)
				}
			} else if _, err := p.applyOne(a, o, val, hasVal, written); err != nil {
				return i, err
			}
			i++
			continue
		}
		// A cluster of short options: -Hv, -n4, -t 10.
		for j := 1; j < len(s); j++ {
			o := lookupShort(s[j])
			if o == nil {
				return i, a.errorf("-"+s[j:j+1], errors.New("unrecognized option"))
			}
			written := "-" + s[j:j+1]
			switch o.arg {
			case noArg:
				if _, err := p.applyOne(a, o, "", false, written); err != nil {
					return i, err
				}
				continue
			case optionalArg:
				val := s[j+1:]
				if val != "" {
					written += val
				}
				if _, err := p.applyOne(a, o, val, val != "", written); err != nil {
					return i, err
				}
			case requiredArg:
				val := s[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return i, a.errorf(written, errors.New("this option needs a value"))
					}
					i++
					val = args[i].text
				}
				if _, err := p.applyOne(a, o, val, true, written+" "+val); err != nil {
					return i, err
				}
			}
			break
		}
		i++
	}
	return i, nil
}

// applyOne applies one option and wraps its error with where it came from.
func (p *Parser) applyOne(a *apply, o *option, val string, hasVal bool, written string) (bool, error) {
	if err := o.set(a, val, hasVal); err != nil {
		return false, a.errorf(written, err)
	}
	if o.noEffect != "" {
		a.warn("--"+o.long, "--%s has no effect here: %s", o.long, o.noEffect)
	}
	return true, nil
}

func (a *apply) errorf(option string, err error) error {
	e := &OptionError{Option: option, Err: err}
	switch a.src {
	case srcScript:
		e.Line = a.line
	case srcEnv:
		e.Source = a.env
	}
	return e
}

// lookupLong finds a long option by its name or an unambiguous prefix, as
// getopt_long does: an exact name wins; a prefix of several names is
// ambiguous unless they are the same option under two names.
func (p *Parser) lookupLong(name string) (*option, *ExtraOption, error) {
	if name == "" {
		return nil, nil, errors.New("empty option name")
	}
	if o := lookupOption(name); o != nil {
		return o, nil, nil
	}
	for i := range p.Extra {
		if p.Extra[i].Name == name {
			return nil, &p.Extra[i], nil
		}
	}
	var found *option
	var foundExtra *ExtraOption
	var cands []string
	options := optionTable()
	for i := range options {
		o := &options[i]
		if !strings.HasPrefix(o.long, name) {
			continue
		}
		cands = append(cands, "--"+o.long)
		if found == nil {
			found = o
		} else if found.id() != o.id() {
			found = &ambiguous
		}
	}
	for i := range p.Extra {
		if strings.HasPrefix(p.Extra[i].Name, name) {
			cands = append(cands, "--"+p.Extra[i].Name)
			foundExtra = &p.Extra[i]
		}
	}
	switch {
	case found == nil && foundExtra == nil:
		return nil, nil, errors.New("unrecognized option; see sbatch's man page for the options")
	case found != nil && foundExtra != nil, found == &ambiguous, foundExtra != nil && len(cands) > 1:
		return nil, nil, fmt.Errorf("ambiguous abbreviation: it could be %s; write more of the name", strings.Join(cands, ", "))
	case found != nil:
		return found, nil, nil
	}
	return nil, foundExtra, nil
}

// ambiguous is a marker for lookupLong.
var ambiguous option

// beginUnits are the units now+N takes, longest first so that "minutes"
// is not read as "minute" and a stray "s".
var beginUnits = []struct {
	name string
	secs int64
}{
	{"seconds", 1}, {"second", 1}, {"minutes", 60}, {"minute", 60},
	{"hours", 3600}, {"hour", 3600}, {"days", 86400}, {"day", 86400},
	{"weeks", 7 * 86400}, {"week", 7 * 86400},
}

// beginWords are the times of day Slurm knows by name.
var beginWords = []struct {
	name string
	hour int
}{{"midnight", 0}, {"noon", 12}, {"elevenses", 11}, {"fika", 15}, {"teatime", 16}}

// ParseBegin parses a --begin (or --deadline) time as Slurm does, in now's
// time zone: "now[+-N[seconds|minutes|hours|days|weeks]]" (seconds when no
// unit), "HH:MM[:SS][AM|PM]" (today, or tomorrow if that time has passed),
// "YYYY-MM-DD[THH:MM[:SS]]", "MMDD[YY]", "MM/DD[/YY]" and "MM.DD[.YY]"
// with an optional "-HH:MM[:SS]", the words today, tomorrow, midnight,
// noon, elevenses (11:00), fika (15:00) and teatime (16:00), and
// "uts<unix seconds>". A date without a year is the next such date.
func ParseBegin(s string, now time.Time) (time.Time, error) {
	bad := fmt.Errorf("invalid time %q: use now+N[minutes|hours|days|weeks], HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY][-HH:MM], today, tomorrow, midnight, noon or teatime", s)
	low := strings.ToLower(s)
	if rest, ok := strings.CutPrefix(low, "uts"); ok {
		v, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || v < 1000000 {
			return time.Time{}, bad
		}
		return time.Unix(v, 0).In(now.Location()), nil
	}
	hour, minute, second := -1, 0, 0
	year, month, day := -1, -1, -1
	setDate := func(t time.Time) { year, month, day = t.Year(), int(t.Month()), t.Day() }
	digit := func(i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }
	num := func(i *int, max int) int { // up to max digits
		v, n := 0, 0
		for n < max && digit(*i) {
			v = v*10 + int(s[*i]-'0')
			*i++
			n++
		}
		return v
	}
	pos := 0
outer:
	for pos < len(s) {
		c := s[pos]
		if c == ' ' || c == '\t' || c == '-' || c == 'T' {
			pos++
			continue
		}
		switch {
		case strings.HasPrefix(low[pos:], "today"):
			setDate(now)
			pos += len("today")
			continue
		case strings.HasPrefix(low[pos:], "tomorrow"):
			setDate(now.AddDate(0, 0, 1))
			pos += len("tomorrow")
			continue
		case strings.HasPrefix(low[pos:], "now"):
			pos += len("now")
			for pos < len(s) && (s[pos] == ' ' || s[pos] == '\t') {
				pos++
			}
			var delta int64
			if pos < len(s) {
				sign := int64(1)
				switch s[pos] {
				case '+':
				case '-':
					sign = -1
				default:
					return time.Time{}, bad
				}
				pos++
				var cnt int64
				digits := 0
			delta:
				for pos < len(s) {
					switch {
					case s[pos] == ' ' || s[pos] == '\t':
						pos++
					case digit(pos):
						cnt = cnt*10 + int64(s[pos]-'0')
						if cnt > 1<<40 {
							return time.Time{}, bad
						}
						digits++
						pos++
					default:
						for _, u := range beginUnits {
							if strings.HasPrefix(low[pos:], u.name) {
								cnt *= u.secs
								pos += len(u.name)
								break delta
							}
						}
						return time.Time{}, bad
					}
				}
				if digits == 0 {
					return time.Time{}, bad
				}
				delta = sign * cnt
			}
			t := now.Add(time.Duration(delta) * time.Second)
			setDate(t)
			hour, minute, second = t.Hour(), t.Minute(), t.Second()
			continue
		}
		for _, w := range beginWords {
			if strings.HasPrefix(low[pos:], w.name) {
				hour, minute, second = w.hour, 0, 0
				pos += len(w.name)
				continue outer
			}
		}
		if !digit(pos) {
			return time.Time{}, bad
		}
		if (pos+1 < len(s) && s[pos+1] == ':') || (pos+2 < len(s) && s[pos+2] == ':') {
			// HH:MM[:SS] [AM|PM]
			h := num(&pos, 2)
			pos++ // ':'
			if !digit(pos) {
				return time.Time{}, bad
			}
			m := num(&pos, 2)
			sec := 0
			if pos < len(s) && s[pos] == ':' {
				pos++
				if !digit(pos) {
					return time.Time{}, bad
				}
				sec = num(&pos, 2)
			}
			for pos < len(s) && (s[pos] == ' ' || s[pos] == '\t') {
				pos++
			}
			switch {
			case strings.HasPrefix(low[pos:], "am"), strings.HasPrefix(low[pos:], "pm"):
				if h < 1 || h > 12 {
					return time.Time{}, bad
				}
				if h == 12 {
					h = 0
				}
				if low[pos] == 'p' {
					h += 12
				}
				pos += 2
			}
			if h > 23 || m > 59 || sec > 59 {
				return time.Time{}, bad
			}
			hour, minute, second = h, m, sec
			continue
		}
		// A date.
		if pos+7 < len(s) && s[pos+4] == '-' && s[pos+7] == '-' {
			start := pos
			y := num(&pos, 4)
			if pos-start != 4 {
				return time.Time{}, bad
			}
			pos++
			mo := num(&pos, 2)
			pos++
			if !digit(pos) {
				return time.Time{}, bad
			}
			d := num(&pos, 2)
			if mo < 1 || mo > 12 || d < 1 || d > 31 {
				return time.Time{}, bad
			}
			year, month, day = y, mo, d
			continue
		}
		mo := num(&pos, 2)
		if pos < len(s) && (s[pos] == '.' || s[pos] == '/') {
			pos++
		}
		if !digit(pos) {
			return time.Time{}, bad
		}
		d := num(&pos, 2)
		if pos < len(s) && (s[pos] == '.' || s[pos] == '/') {
			pos++
		}
		y := -1
		if digit(pos) {
			start := pos
			y = num(&pos, 2)
			if pos-start != 2 {
				return time.Time{}, bad
			}
			y += 2000
		}
		if mo < 1 || mo > 12 || d < 1 || d > 31 {
			return time.Time{}, bad
		}
		month, day = mo, d
		if y >= 0 {
			year = y
		}
	}
	switch {
	case hour == -1 && month == -1:
		return time.Time{}, bad
	case hour == -1:
		hour, minute, second = 0, 0, 0
	case month == -1:
		// A time alone is the next such time: today, or tomorrow.
		if hour > now.Hour() || (hour == now.Hour() && minute > now.Minute()) {
			setDate(now)
		} else {
			setDate(now.AddDate(0, 0, 1))
		}
	}
	if year == -1 {
		// A date without a year is the next such date.
		cand := time.Date(now.Year(), time.Month(month), day, hour, minute, 0, 0, now.Location())
		year = now.Year()
		if !cand.After(now.Truncate(time.Minute)) {
			year++
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, second, 0, now.Location()), nil
}
