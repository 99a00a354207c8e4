// Package cli implements the gefion command line: one file per subcommand,
// each registering itself with register. main only calls Run.
//
// Exit status: 0 on success, 1 when the command failed (the message is on
// stderr), 2 for usage errors. Commands that read state accept --json and then
// write exactly one JSON document to stdout.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gefion-hpc/gefion/internal/textsafe"
)

// Env is what a command may touch of the outside world. Tests give their own.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; nil means os.Getenv.
	Getenv func(string) string
	// Environ lists the environment; nil means os.Environ.
	Environ func() []string

	// link is the node agent's credential service, looked up once.
	link *agentLink
}

func (e *Env) getenv(k string) string {
	if e.Getenv == nil {
		return os.Getenv(k)
	}
	return e.Getenv(k)
}

// command is one subcommand. Path is the words that name it ("cluster info").
type command struct {
	path    string
	summary string
	run     func(e *Env, args []string) error
}

// registry holds the registered commands. A fixed array, not a map:
// every client command runs the registrations before main, and they must
// cost next to nothing (cmd/gefion's start-up test counts the bytes).
var registry struct {
	cmds [96]*command
	n    int
}

// find returns the command registered under path, or nil.
func find(path string) *command {
	for _, c := range registry.cmds[:registry.n] {
		if c.path == path {
			return c
		}
	}
	return nil
}

// aliases maps the names the binary answers to when invoked through a symlink
// to the subcommand path they run.
var aliases = map[string]string{
	"sbatch":   "sbatch",
	"squeue":   "squeue",
	"scancel":  "cancel",
	"sinfo":    "sinfo",
	"sacct":    "sacct",
	"scontrol": "scontrol",
	"srun":     "srun",
	"salloc":   "salloc",
}

func register(c *command) {
	if find(c.path) != nil {
		panic("cli: command registered twice: " + c.path)
	}
	if registry.n == len(registry.cmds) {
		panic("cli: more commands than the registry holds; enlarge registry.cmds")
	}
	registry.cmds[registry.n] = c
	registry.n++
}

// UsageError is a mistake in how a command was called; it exits with status 2.
type UsageError struct{ Msg string }

func (u *UsageError) Error() string { return u.Msg }

// ExitError ends a command with a given exit status, as sbatch --wait
// ends with its job's exit code and srun with its tasks' highest; Msg,
// when set, goes to stderr.
type ExitError struct {
	Code int
	Msg  string
}

func (x *ExitError) Error() string { return fmt.Sprintf("exit status %d: %s", x.Code, x.Msg) }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

// Run runs the command line args (args[0] is the program name) and returns the
// process exit status.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr}
	return RunEnv(e, args)
}

// RunEnv is Run with a given environment.
func RunEnv(e *Env, args []string) int {
	prog := "gefion"
	if len(args) > 0 {
		prog = filepath.Base(args[0])
		args = args[1:]
	}
	var c *command
	if path, ok := aliases[prog]; ok {
		c = find(path)
	} else {
		c, args = lookup(args)
	}
	if c == nil {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			printHelp(e.Stdout)
			if len(args) == 0 {
				return 2
			}
			return 0
		}
		fmt.Fprintf(e.Stderr, "gefion: unknown command %q; run 'gefion help' for the list\n", strings.Join(args, " "))
		return 2
	}
	err := c.run(e, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*ExitError)):
		var x *ExitError
		errors.As(err, &x)
		if x.Msg != "" {
			fmt.Fprintf(e.Stderr, "%s: %s\n", prog, x.Msg)
		}
		return x.Code
	default:
		fmt.Fprintf(e.Stderr, "%s: %s\n", prog, safeMessage(err.Error()))
		var u *UsageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
}

// safeMessage escapes the user text an error message may quote (a job
// name, a path, a project, the controller's own message) line by line: a
// message of several lines (errors.Join) keeps its line breaks, but nothing
// in it can drive the terminal.
func safeMessage(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = textsafe.Field(l)
	}
	return strings.Join(lines, "\n")
}

// lookup finds the longest command path that prefixes args.
func lookup(args []string) (*command, []string) {
	for n := min(len(args), 3); n > 0; n-- {
		if c := find(strings.Join(args[:n], " ")); c != nil {
			return c, args[n:]
		}
	}
	return nil, args
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "gefion: workload manager for GPU supercomputers\n\nUsage: gefion COMMAND [options]\n\nCommands:")
	cmds := slices.Clone(registry.cmds[:registry.n])
	slices.SortFunc(cmds, func(a, b *command) int { return strings.Compare(a.path, b.path) })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-16s %s\n", c.path, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'gefion COMMAND -h' for a command's options.")
}

// newFlags returns a flag set for command path whose errors and help go to
// e.Stderr.
func newFlags(e *Env, path string) *flag.FlagSet {
	fs := flag.NewFlagSet("gefion "+path, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	return fs
}

// parseFlags parses args, allowing flags after positional arguments (as in
// "gefion why 12 --json"), and returns the positional arguments. A "--" ends
// flag parsing.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &UsageError{Msg: err.Error()}
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// writeJSON writes v as one indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
