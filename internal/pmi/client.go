package pmi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Client is a rank's side of PMI-1, for Gefion's own tasks that wire up
// without an MPI library (the distributed quantum simulator): put a
// value, wait at a barrier until every rank has put, get the others'.
type Client struct {
	// Rank and Size are this rank and the step's number of ranks.
	Rank, Size int
	kvs        string
	rw         io.ReadWriter
	r          *bufio.Reader
}

// ErrNoPMI is returned by ClientFromEnv when the process was not started
// with a PMI descriptor (srun --mpi=pmi2 gives one).
var ErrNoPMI = errors.New("no PMI descriptor: start the tasks with srun --mpi=pmi2")

// ClientFromEnv opens the descriptor that PMI_FD names and initialises
// PMI-1 on it; getenv reads the environment.
func ClientFromEnv(getenv func(string) string) (*Client, error) {
	fd, err := strconv.Atoi(getenv("PMI_FD"))
	if err != nil || fd < 0 {
		return nil, ErrNoPMI
	}
	rank, err1 := strconv.Atoi(getenv("PMI_RANK"))
	size, err2 := strconv.Atoi(getenv("PMI_SIZE"))
	if err1 != nil || err2 != nil || size < 1 || rank < 0 || rank >= size {
		return nil, fmt.Errorf("PMI_RANK=%q and PMI_SIZE=%q do not name a rank of a step", getenv("PMI_RANK"), getenv("PMI_SIZE"))
	}
	f := os.NewFile(uintptr(fd), "pmi")
	if f == nil {
		return nil, ErrNoPMI
	}
	return NewClient(f, rank, size)
}

// NewClient initialises PMI-1 over rw for rank of size.
func NewClient(rw io.ReadWriter, rank, size int) (*Client, error) {
	c := &Client{Rank: rank, Size: size, rw: rw, r: bufio.NewReader(rw)}
	f, err := c.call("cmd=init pmi_version=1 pmi_subversion=1", "response_to_init")
	if err != nil {
		return nil, err
	}
	if f["pmi_version"] != "1" {
		return nil, fmt.Errorf("pmi: the launcher speaks PMI version %q, not 1", f["pmi_version"])
	}
	if f, err = c.call("cmd=get_my_kvsname", "my_kvsname"); err != nil {
		return nil, err
	}
	c.kvs = f["kvsname"]
	return c, nil
}

// call sends one command line and reads the response whose cmd is want.
func (c *Client) call(line, want string) (map[string]string, error) {
	if _, err := io.WriteString(c.rw, line+"\n"); err != nil {
		return nil, fmt.Errorf("pmi: %w", err)
	}
	resp, err := readLine(c.r, maxLine)
	if err != nil {
		return nil, fmt.Errorf("pmi: %w", err)
	}
	f := fields1(resp)
	if f["cmd"] != want {
		return nil, fmt.Errorf("pmi: got %q in answer to %q", resp, line)
	}
	if rc := f["rc"]; rc != "" && rc != "0" {
		return nil, fmt.Errorf("pmi: %s failed: %s", want, f["msg"])
	}
	return f, nil
}

// Put publishes key=value to the step (visible after the next Barrier).
// Neither may hold spaces or '='.
func (c *Client) Put(key, value string) error {
	if strings.ContainsAny(key+value, " =\n") {
		return fmt.Errorf("pmi: key %q or value %q holds a space, '=' or newline", key, value)
	}
	_, err := c.call("cmd=put kvsname="+c.kvs+" key="+key+" value="+value, "put_result")
	return err
}

// Barrier waits until every rank has reached it; the puts made before it
// are then visible to all.
func (c *Client) Barrier() error {
	_, err := c.call("cmd=barrier_in", "barrier_out")
	return err
}

// Get reads a key published before the last Barrier.
func (c *Client) Get(key string) (string, error) {
	f, err := c.call("cmd=get kvsname="+c.kvs+" key="+key, "get_result")
	if err != nil {
		return "", err
	}
	return f["value"], nil
}

// Finalize ends the rank's PMI session.
func (c *Client) Finalize() error {
	_, err := c.call("cmd=finalize", "finalize_ack")
	return err
}
