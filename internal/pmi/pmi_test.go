package pmi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestMapping(t *testing.T) {
	for _, tc := range []struct {
		nodeOf []int
		want   string
	}{
		{[]int{0, 0, 0, 0, 1, 1, 1, 1}, "(vector,(0,2,4))"},
		{[]int{0, 1, 0, 1}, "(vector,(0,2,1),(0,2,1))"},
		{[]int{0, 0, 0, 1, 1}, "(vector,(0,1,3),(1,1,2))"},
		{[]int{0}, "(vector,(0,1,1))"},
	} {
		if got := Mapping(tc.nodeOf); got != tc.want {
			t.Errorf("Mapping(%v) = %q; want %q", tc.nodeOf, got, tc.want)
		}
	}
}

// client1 is a PMI-1 client on one end of a pipe.
type client1 struct {
	t *testing.T
	w io.Writer
	r *bufio.Reader
}

func (c *client1) call(line string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.w, line+"\n"); err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("%s: %v", line, err)
	}
	return strings.TrimSpace(resp)
}

type client2 struct {
	t *testing.T
	w io.Writer
	r *bufio.Reader
}

func (c *client2) call(msg string) string {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.w, "%-6d%s", len(msg), msg); err != nil {
		c.t.Fatal(err)
	}
	resp, err := read2(c.r)
	if err != nil {
		c.t.Fatalf("%s: %v", msg, err)
	}
	return resp
}

// twoNodes serves a step of 4 ranks on two nodes of 2, joined by a Gather,
// and returns one connection per rank.
func twoNodes(t *testing.T, ctx context.Context) ([]net.Conn, chan error) {
	job := Job{ID: "7.0", Size: 4, Mapping: Mapping([]int{0, 0, 1, 1})}
	g := &Gather{Nodes: 2}
	nodes := []*Server{NewServer(job, 2, g.Fencer()), NewServer(job, 2, g.Fencer())}
	errs := make(chan error, 4)
	conns := make([]net.Conn, 4)
	for r := range conns {
		a, b := net.Pipe()
		conns[r] = a
		t.Cleanup(func() { a.Close(); b.Close() })
		go func() { errs <- nodes[r/2].Serve(ctx, r, b) }()
	}
	return conns, errs
}

func TestPMI1ExchangeAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conns, errs := twoNodes(t, ctx)
	var wg sync.WaitGroup
	got := make([]string, 4)
	for r, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client1{t: t, w: conn, r: bufio.NewReader(conn)}
			if resp := c.call("cmd=init pmi_version=1 pmi_subversion=1"); resp != "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0" {
				t.Errorf("init: %q", resp)
			}
			if resp := c.call("cmd=get_my_kvsname"); resp != "cmd=my_kvsname kvsname=7.0 rc=0" {
				t.Errorf("get_my_kvsname: %q", resp)
			}
			if resp := c.call("cmd=get kvsname=7.0 key=PMI_process_mapping"); resp != "cmd=get_result rc=0 msg=success value=(vector,(0,2,2))" {
				t.Errorf("get mapping: %q", resp)
			}
			c.call(fmt.Sprintf("cmd=put kvsname=7.0 key=card-%d value=addr-%d", r, r))
			if resp := c.call("cmd=barrier_in"); resp != "cmd=barrier_out rc=0" {
				t.Errorf("barrier: %q", resp)
			}
			var vals []string
			for o := range 4 {
				resp := c.call(fmt.Sprintf("cmd=get kvsname=7.0 key=card-%d", o))
				_, v, _ := strings.Cut(resp, "value=")
				vals = append(vals, v)
			}
			got[r] = strings.Join(vals, ",")
			if resp := c.call("cmd=get kvsname=7.0 key=nosuch"); !strings.Contains(resp, "rc=-1") {
				t.Errorf("get of a missing key: %q", resp)
			}
			if resp := c.call("cmd=finalize"); resp != "cmd=finalize_ack rc=0" {
				t.Errorf("finalize: %q", resp)
			}
		}()
	}
	wg.Wait()
	for r := range 4 {
		if err := <-errs; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if got[r] != "addr-0,addr-1,addr-2,addr-3" {
			t.Errorf("rank %d read %q; want every rank's card", r, got[r])
		}
	}
}

func TestPMI2ExchangeAcrossNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conns, errs := twoNodes(t, ctx)
	var wg sync.WaitGroup
	for r, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client2{t: t, w: conn, r: bufio.NewReader(conn)}
			resp := c.call(fmt.Sprintf("cmd=fullinit;pmijobid=7.0;pmirank=%d;threaded=FALSE;", r))
			if f := fields2(resp); f["rc"] != "0" || f["rank"] != fmt.Sprint(r) || f["size"] != "4" {
				t.Errorf("fullinit: %q", resp)
			}
			if f := fields2(c.call("cmd=info-getjobattr;key=PMI_process_mapping;")); f["value"] != "(vector,(0,2,2))" {
				t.Errorf("mapping: %v", f)
			}
			// A value with ';' survives the escaping.
			c.call(fmt.Sprintf("cmd=kvs-put;key=card-%d;value=a;;%d;", r, r))
			if f := fields2(c.call("cmd=kvs-fence;")); f["rc"] != "0" {
				t.Errorf("fence: %v", f)
			}
			for o := range 4 {
				f := fields2(c.call(fmt.Sprintf("cmd=kvs-get;jobid=7.0;srcid=-1;key=card-%d;", o)))
				if f["found"] != "TRUE" || f["value"] != fmt.Sprintf("a;%d", o) {
					t.Errorf("rank %d: kvs-get card-%d = %v", r, o, f)
				}
			}
			if r%2 == 0 {
				c.call("cmd=info-putnodeattr;key=shm;value=seg" + fmt.Sprint(r/2) + ";")
			} else if f := fields2(c.call("cmd=info-getnodeattr;key=shm;wait=TRUE;")); f["value"] != "seg"+fmt.Sprint(r/2) {
				t.Errorf("rank %d: node attribute = %v; want its node's", r, f)
			}
			if f := fields2(c.call("cmd=finalize;")); f["cmd"] != "finalize-response" {
				t.Errorf("finalize: %v", f)
			}
		}()
	}
	wg.Wait()
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
}

func TestBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	job := Job{ID: "1.0", Size: 1}
	for _, tc := range []struct {
		name, send string
		wantErr    string // substring of Serve's error, or "" for a reply
		wantReply  string
	}{
		{"line too long", "cmd=put key=k value=" + strings.Repeat("v", maxLine) + "\n", "longer than", ""},
		{"bad PMI-2 length", "12x456cmd=x;", "length field", ""},
		{"PMI-2 message too long", "999999", "length field", ""},
		{"value too long", "cmd=put kvsname=1.0 key=k value=" + strings.Repeat("v", MaxValLen+1) + "\n", "", "rc=-1"},
		{"unknown command", "cmd=spawn\n", "", "unsupported"},
		{"abort", "cmd=abort exitcode=3\n", "aborted", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := net.Pipe()
			defer a.Close()
			s := NewServer(job, 1, Local)
			errc := make(chan error, 1)
			go func() { errc <- s.Serve(ctx, 0, b); b.Close() }()
			go func() { _, _ = io.WriteString(a, tc.send) }()
			reply, _ := bufio.NewReader(a).ReadString('\n')
			a.Close()
			err := <-errc
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Serve = %v; want an error with %q", err, tc.wantErr)
				}
				return
			}
			if !strings.Contains(reply, tc.wantReply) {
				t.Errorf("reply %q; want %q", reply, tc.wantReply)
			}
		})
	}
	if err := NewServer(job, 1, Local).Serve(ctx, 5, &net.TCPConn{}); err == nil {
		t.Error("Serve of rank 5 in a step of 1 succeeded")
	}
	if !errors.Is(fmt.Errorf("x: %w", ErrAborted), ErrAborted) {
		t.Fatal("ErrAborted does not wrap")
	}
}

// TestRealMPI runs an MPI program built with the system's MPICH under this
// package's server, as srun would: 4 ranks on two "nodes" of 2, PMI_FD a
// socket pair per rank.
func TestRealMPI(t *testing.T) {
	// MPICH's own wrapper: with Open MPI installed too, plain mpicc may
	// be Open MPI's, whose ranks do not speak PMI.
	mpicc, err := exec.LookPath("mpicc.mpich")
	if err != nil {
		t.Skip("needs mpicc.mpich (Debian's mpich and libmpich-dev)")
	}
	if testing.Short() {
		t.Skip("compiles and runs an MPI program")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "allreduce")
	if out, err := exec.Command(mpicc, "-o", bin, "testdata/allreduce.c").CombinedOutput(); err != nil {
		t.Fatalf("mpicc: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const size = 4
	job := Job{ID: "9.0", Size: size, Mapping: Mapping([]int{0, 0, 1, 1})}
	g := &Gather{Nodes: 2}
	nodes := []*Server{NewServer(job, 2, g.Fencer()), NewServer(job, 2, g.Fencer())}
	var wg sync.WaitGroup
	outs := make([]strings.Builder, size)
	for r := range size {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		ours, theirs := os.NewFile(uintptr(fds[0]), "pmi"), os.NewFile(uintptr(fds[1]), "pmi-rank")
		cmd := exec.CommandContext(ctx, bin)
		cmd.ExtraFiles = []*os.File{theirs} // fd 3
		cmd.Env = append(os.Environ(), "PMI_FD=3", fmt.Sprintf("PMI_RANK=%d", r), fmt.Sprintf("PMI_SIZE=%d", size), "PMI_JOBID=9.0")
		cmd.Stdout, cmd.Stderr = &outs[r], &outs[r]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		theirs.Close()
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := nodes[r/2].Serve(ctx, r, ours); err != nil {
				t.Errorf("rank %d: Serve: %v", r, err)
			}
			ours.Close()
		}()
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				t.Errorf("rank %d: %v", r, err)
			}
		}()
	}
	wg.Wait()
	for r := range size {
		want := fmt.Sprintf("rank %d of %d sum %d", r, size, size*(size+1)/2)
		if !strings.Contains(outs[r].String(), want) {
			t.Errorf("rank %d printed %q; want %q", r, outs[r].String(), want)
		}
	}
}
