package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version; builds from a checkout report "dev".
var Version = "0.1.0-dev"

func init() {
	register(&command{path: "version", summary: "print the version", run: runVersion})
}

func runVersion(e *Env, args []string) error {
	fs := newFlags(e, "version")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	if *asJSON {
		return writeJSON(e.Stdout, map[string]string{"version": Version, "revision": rev, "go": runtime.Version()})
	}
	fmt.Fprintf(e.Stdout, "gefion %s %s\n", Version, runtime.Version())
	return nil
}
