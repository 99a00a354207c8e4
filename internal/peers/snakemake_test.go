package peers

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/testdev"
)

const snakefile = `rule all:
    input: "b.txt"

rule a:
    output: "a.txt"
    shell: "echo job $SLURM_JOB_ID on $SLURMD_NODENAME > {output}"

rule b:
    input: "a.txt"
    output: "b.txt"
    shell: "cat {input} > {output}; echo step $SLURM_STEP_ID >> {output}"
`

// TestSnakemakeSlurmExecutor runs a two-rule workflow with Snakemake's
// Slurm executor (snakemake --slurm, Debian's 7.21), unchanged: it finds
// the account with sacct and sacctmgr and the partition with sinfo,
// submits each rule with sbatch, polls with sacct (scontrol when that
// fails), and runs each rule inside its job through srun.
func TestSnakemakeSlurmExecutor(t *testing.T) {
	snakemake, err := exec.LookPath("snakemake")
	if err != nil {
		t.Skip("needs Debian's snakemake (apt-get install snakemake; .ci/run installs it)")
	}
	me, err := user.Current()
	if err != nil {
		t.Skip("needs a current user:", err)
	}
	d := testdev.Start(t)
	bin := d.Commands(t)
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "Snakefile"), []byte(snakefile), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Snakemake's Slurm executor polls every 33 s unless told otherwise;
	// CI=true shortens its other waits.
	cmd := exec.CommandContext(ctx, snakemake, "--slurm", "--jobs", "2", "--latency-wait", "10", "--max-status-checks-per-second", "4")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"USER="+me.Username, "GEFION_ADDR="+d.Addr, "HOME="+work, "CI=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("snakemake --slurm: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(work, "b.txt"))
	if err != nil {
		t.Fatalf("the workflow's last output: %v\nsnakemake said:\n%s", err, out)
	}
	if !regexp.MustCompile(`^job [0-9]+ on \S+\nstep [0-9]+\n$`).Match(b) {
		t.Errorf("b.txt = %q; want the first job's ID and node, then the step of the second", b)
	}
	if !strings.Contains(string(out), "2 of 3 steps (67%) done") && !strings.Contains(string(out), "3 of 3 steps (100%) done") {
		t.Errorf("snakemake did not report the workflow done:\n%s", out)
	}
}
