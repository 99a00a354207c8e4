package cli

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
)

// TestSstatMeasuresARunningStep runs a step of four tasks, each holding
// about 20 MB, on two real local nodes and reads it with sstat as a tool
// would: four tasks, the peak resident memory of the largest, on one of
// the step's nodes.
func TestSstatMeasuresARunningStep(t *testing.T) {
	sc := newStepCluster(t)
	c := client.New(sc.addr, sc.user)
	id := strconv.FormatInt(int64(sc.jobID), 10)
	done := make(chan int, 1)
	go func() {
		_, _, code := sc.srun("", "-n", "4", "sh", "-c", `awk 'BEGIN { s = sprintf("%20000000s", "x"); system("sleep 60") }'; true`)
		done <- code
	}()
	waitUntil(t, "step 0 running", func() bool {
		steps, err := c.Steps(context.Background(), sc.jobID)
		return err == nil && len(steps) == 1 && steps[0].State == job.Running
	})
	var out string
	waitUntil(t, "sstat to show the step's four tasks with their memory", func() bool {
		var code int
		out, _, code = sc.cli("sstat", "-P", "-n", "-j", id+".0", "--format=JobID,NTasks,MaxRSS,MaxRSSNode,MinCPU")
		f := strings.Split(strings.TrimSpace(out), "|")
		if code != 0 || len(f) != 5 || f[0] != id+".0" || f[1] != "4" {
			return false
		}
		kb, _ := strconv.Atoi(strings.TrimSuffix(f[2], "K"))
		return kb > 19_000 && (f[3] == "dev1" || f[3] == "dev2") && f[4] == "00:00:00"
	})
	// The default format has Slurm's header.
	if out, _, code := sc.cli("sstat", "-j", id); code != 0 || !strings.HasPrefix(out, "JobID         MaxVMSize  MaxVMSizeNode") ||
		!strings.Contains(out, "\n"+id+".0 ") {
		t.Errorf("sstat -j %s: exit %d\n%s", id, code, out)
	}
	if _, errs, code := sc.cli("cancel", id+".0"); code != 0 {
		t.Fatalf("cancel: %s", errs)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("srun still runs after its step was cancelled")
	}
	// Once it ended, there is nothing to show.
	waitUntil(t, "sstat to show nothing", func() bool {
		out, errs, code := sc.cli("sstat", "-n", "-j", id)
		return code == 0 && out == "" && strings.Contains(errs, "no measured steps running for job "+id)
	})
}

// TestSstatRefusals checks what sstat refuses before asking anything.
func TestSstatRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sstat"}, "give the jobs to stat with -j"},
		{[]string{"sstat", "-j", "x"}, `invalid job "x"`},
		{[]string{"sstat", "-j", "5.batch"}, "Gefion measures srun steps only"},
		{[]string{"sstat", "-j", "5", "-o", "Bogus"}, `sstat field "Bogus"`},
		{[]string{"sstat", "-j", "5", "-i"}, "invalid option -- 'i'"},
	} {
		var out, errb strings.Builder
		e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		if code := RunEnv(e, append([]string{"gefion"}, tc.args...)); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
	var out strings.Builder
	e := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
	if code := RunEnv(e, []string{"sstat", "-e"}); code != 0 || !strings.HasPrefix(out.String(), "AveCPU              AveCPUFreq") {
		t.Errorf("sstat -e: exit %d, %q", code, out.String())
	}
}
