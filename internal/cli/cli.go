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
	"sort"
	"strings"
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

var commands = map[string]*command{}

// aliases maps the names the binary answers to when invoked through a symlink
// to the subcommand path they run.
var aliases = map[string]string{
	"sbatch":   "sbatch",
	"squeue":   "queue",
	"scancel":  "cancel",
	"sinfo":    "nodes",
	"sacct":    "acct",
	"scontrol": "scontrol",
	"srun":     "srun",
}

func register(c *command) {
	if _, dup := commands[c.path]; dup {
		panic("cli: command registered twice: " + c.path)
	}
	commands[c.path] = c
}

// UsageError is a mistake in how a command was called; it exits with status 2.
type UsageError struct{ Msg string }

func (u *UsageError) Error() string { return u.Msg }

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
		c = commands[path]
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
	case errors.As(err, new(*ExitStatus)):
		var x *ExitStatus
		errors.As(err, &x)
		return x.Code
	default:
		fmt.Fprintf(e.Stderr, "%s: %v\n", prog, err)
		var u *UsageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
}

// lookup finds the longest command path that prefixes args.
func lookup(args []string) (*command, []string) {
	for n := min(len(args), 3); n > 0; n-- {
		if c, ok := commands[strings.Join(args[:n], " ")]; ok {
			return c, args[n:]
		}
	}
	return nil, args
}

func printHelp(w io.Writer) {
	fmt.Fprintln(w, "gefion: workload manager for GPU supercomputers\n\nUsage: gefion COMMAND [options]\n\nCommands:")
	paths := make([]string, 0, len(commands))
	for p := range commands {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		fmt.Fprintf(w, "  %-16s %s\n", p, commands[p].summary)
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
