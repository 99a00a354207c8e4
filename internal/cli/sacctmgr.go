package cli

import (
	"fmt"
	"strings"

	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/slurmfmt"
)

func init() {
	register(&command{path: "sacctmgr", summary: "Slurm's sacctmgr, read only: show user|account|assoc|qos over Gefion's projects", run: runSacctmgr})
	aliases["sacctmgr"] = "sacctmgr"
}

const sacctmgrUsage = "[-n] [-P|-p] [-s] show|list user|account|assoc|qos [where] [NAME...] [name=|user=|account=...] [format=FIELD[%WIDTH],...] [withassoc]"

// runSacctmgr shows Gefion's projects as Slurm's accounts, their members as
// users and associations, and the controller's QOS. It changes nothing:
// projects are managed with 'gefion project'.
func runSacctmgr(e *Env, args []string) error {
	var addr string
	var noHeader, parsable, parsable2, withAssoc, help, immediate bool
	opts := []slurmOpt{
		flagOpt('n', "noheader", &noHeader, "no header"),
		flagOpt('p', "parsable", &parsable, "every field followed by |"),
		flagOpt('P', "parsable2", &parsable2, "fields separated by |"),
		flagOpt('s', "associations", &withAssoc, "with the associations (user and account)"),
		flagOpt('i', "immediate", &immediate, "no confirmation (nothing here asks)"),
		strOpt(0, "addr", &addr, "controller URL (default $GEFION_ADDR or "+client.DefaultAddr+")"),
		flagOpt('h', "help", &help, "this help"),
	}
	pos, err := parseSlurmArgs("sacctmgr", opts, args)
	if err != nil {
		return err
	}
	if help {
		fmt.Fprint(e.Stdout, slurmHelp("sacctmgr", sacctmgrUsage, opts))
		return nil
	}
	if len(pos) < 2 {
		return usagef("usage: sacctmgr %s", sacctmgrUsage)
	}
	switch strings.ToLower(pos[0]) {
	case "show", "list":
	case "add", "create", "modify", "update", "delete", "remove", "archive", "load", "dump":
		return fmt.Errorf("sacctmgr %s: Gefion's sacctmgr only reads; change projects with 'gefion project'", pos[0])
	default:
		return usagef("sacctmgr %s: not a command; usage: sacctmgr %s", pos[0], sacctmgrUsage)
	}
	entity := strings.ToLower(pos[1])
	switch entity {
	case "user", "users":
		entity = "user"
	case "account", "accounts":
		entity = "account"
	case "assoc", "association", "associations":
		entity = "assoc"
	case "qos":
	default:
		return usagef("sacctmgr show %s: Gefion shows user, account, assoc and qos", pos[1])
	}
	var names, users, accounts []string
	var format string
	for _, w := range pos[2:] {
		k, v, isKV := strings.Cut(w, "=")
		lk := strings.ToLower(k)
		switch {
		case !isKV && (lk == "where" || lk == "set"):
		case !isKV && (lk == "withassoc" || lk == "withassocs"):
			withAssoc = true
		case !isKV:
			names = append(names, w)
		case lk == "format":
			format = v
		case lk == "name" || lk == "names":
			names = append(names, strings.Split(v, ",")...)
		case lk == "user" || lk == "users":
			users = append(users, strings.Split(v, ",")...)
		case lk == "account" || lk == "accounts":
			accounts = append(accounts, strings.Split(v, ",")...)
		case lk == "cluster" || lk == "clusters":
		default:
			return usagef("sacctmgr show %s: %q is not a condition Gefion knows (name=, user=, account=, cluster=, format=)", entity, w)
		}
	}
	f, err := slurmfmt.ParseMgrFormat(entity, format, withAssoc)
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	c := newClient(e, resolveAddr(e, addr))
	ctx, cancel := ctxTimeout()
	defer cancel()
	cfg, err := c.Config(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	projects, err := c.Projects(ctx)
	if err != nil {
		return explain(err, c.Base)
	}
	d := &slurmfmt.MgrData{Cluster: cfg.ClusterName, Projects: projects, Config: cfg, Admins: []string{"root"}, Me: c.User}
	var rows []slurmfmt.MgrRow
	switch entity {
	case "user":
		rows = d.UserRows(append(names, users...), withAssoc)
		if len(accounts) > 0 {
			rows = filterRows(rows, "Account", accounts)
		}
	case "account":
		rows = d.AccountRows(append(names, accounts...), withAssoc)
		if len(users) > 0 {
			rows = filterRows(rows, "User", users)
		}
	case "assoc":
		rows = d.AssocRows(append(names, users...), accounts)
	case "qos":
		rows = d.QOSRows(names)
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

func filterRows(rows []slurmfmt.MgrRow, key string, vals []string) []slurmfmt.MgrRow {
	var out []slurmfmt.MgrRow
	for _, r := range rows {
		for _, v := range vals {
			if r[key] == v {
				out = append(out, r)
				break
			}
		}
	}
	return out
}
