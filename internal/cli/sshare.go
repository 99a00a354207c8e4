package cli

import (
	"fmt"
	"strings"

	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
)

func init() {
	register(&command{path: "sshare", summary: "Slurm's sshare: projects and their members in the fair-share tree", run: runSshare})
	aliases["sshare"] = "sshare"
}

func runSshare(e *Env, args []string) error {
	var addr, format, users, accounts string
	var onlyMe, allUsers, noHeader, parsable, parsable2, help bool
	opts := []slurmOpt{
		strOpt('o', "format", &format, "fields: NAME[%WIDTH],... (Slurm's names)"),
		flagOpt('U', "Users", &onlyMe, "only the user rows (your associations)"),
		flagOpt('a', "all", &allUsers, "every member"),
		strOpt('u', "users", &users, "these users"),
		strOpt('A', "accounts", &accounts, "these accounts (projects)"),
		flagOpt('n', "noheader", &noHeader, "no header"),
		flagOpt('p', "parsable", &parsable, "every field followed by |"),
		flagOpt('P', "parsable2", &parsable2, "fields separated by |"),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt('h', "help", &help, "this help"),
	}
	pos, err := parseSlurmArgs("sshare", opts, args)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(e.Stdout, slurmHelp("sshare", "[OPTIONS]", opts))
		return nil
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q: sshare takes options only", pos[0])
	}
	f, err := slurmfmt.ParseShareFormat(format)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	c := newClient(e, resolveAddr(e, addr))
	ctx, cancel := ctxTimeout()
	defer cancel()
	projects, err := c.Projects(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	d := &slurmfmt.MgrData{Projects: projects, Me: c.User}
	var who []string
	switch {
	case users != "":
		who = strings.Split(users, ",")
	case !allUsers:
		who = []string{c.User} // as sshare shows the caller's own rows
	}
	rows := d.ShareRows(who, onlyMe)
	if accounts != "" {
		var keep []slurmfmt.MgrRow
		for _, r := range rows {
			if inList(accounts, strings.TrimSpace(r["Account"])) || r["Account"] == "root" {
				keep = append(keep, r)
			}
		}
		rows = keep
	}
	st := slurmfmt.Columns
	switch {
	case parsable2:
		st = slurmfmt.Parsable2
	case parsable:
		st = slurmfmt.Parsable
	}
	return f.WriteMgr(e.Stdout, rows, st, noHeader)
}
