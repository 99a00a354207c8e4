package cli

import (
	"fmt"
	"strings"
)

// slurmOpt is one option of a Slurm command, parsed as Slurm's getopt
// does: short options may be bundled (-nu USER, -nuUSER), long ones take
// their value after '=' or as the next word.
type slurmOpt struct {
	short  byte
	long   string
	hasArg bool
	set    func(v string) error
	help   string
}

// parseSlurmArgs parses args against opts and returns the other words.
// An option it does not know is refused, never skipped: a script that
// relies on it must not get output that silently ignores it.
func parseSlurmArgs(cmd string, opts []slurmOpt, args []string) ([]string, error) {
	var pos []string
	find := func(short byte, long string) *slurmOpt {
		for i := range opts {
			if (short != 0 && opts[i].short == short) || (long != "" && opts[i].long == long) {
				return &opts[i]
			}
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return append(pos, args[i+1:]...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			o := find(0, name)
			if o == nil {
				return nil, usagef("unrecognized option '--%s'; run '%s --help' for the options Gefion supports", name, cmd)
			}
			if !o.hasArg {
				if hasVal {
					return nil, usagef("option '--%s' takes no value", name)
				}
				if err := o.set(""); err != nil {
					return nil, err
				}
				continue
			}
			if !hasVal {
				if i+1 >= len(args) {
					return nil, usagef("option '--%s' needs a value", name)
				}
				i++
				val = args[i]
			}
			if err := o.set(val); err != nil {
				return nil, err
			}
		case len(a) > 1 && a[0] == '-':
			for k := 1; k < len(a); k++ {
				o := find(a[k], "")
				if o == nil {
					return nil, usagef("invalid option -- '%c'; run '%s --help' for the options Gefion supports", a[k], cmd)
				}
				if !o.hasArg {
					if err := o.set(""); err != nil {
						return nil, err
					}
					continue
				}
				val := a[k+1:]
				if val == "" {
					if i+1 >= len(args) {
						return nil, usagef("option -%c needs a value", a[k])
					}
					i++
					val = args[i]
				}
				if err := o.set(val); err != nil {
					return nil, err
				}
				break
			}
		default:
			pos = append(pos, a)
		}
	}
	return pos, nil
}

// slurmHelp prints the options of a Slurm command.
func slurmHelp(cmd, usage string, opts []slurmOpt) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s %s\n\nOptions Gefion supports (any other is refused):\n", cmd, usage)
	for _, o := range opts {
		name := "    "
		if o.short != 0 {
			name = fmt.Sprintf("-%c, ", o.short)
		}
		if o.long != "" {
			name += "--" + o.long
		}
		if o.hasArg {
			name += "=VALUE"
		}
		fmt.Fprintf(&b, "  %-28s %s\n", name, o.help)
	}
	return b.String()
}

// flagOpt and strOpt build options that set a bool or a string.
func flagOpt(short byte, long string, p *bool, help string) slurmOpt {
	return slurmOpt{short: short, long: long, set: func(string) error { *p = true; return nil }, help: help}
}

func strOpt(short byte, long string, p *string, help string) slurmOpt {
	return slurmOpt{short: short, long: long, hasArg: true, set: func(v string) error { *p = v; return nil }, help: help}
}

// clusterOpt accepts -M/--clusters naming this cluster or "all"; Gefion
// runs one cluster, so another name is refused.
func clusterOpt(p *string) slurmOpt {
	return strOpt('M', "clusters", p, "cluster(s) to query: all or this cluster's name")
}
