package pmi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"sync"
)

// Limits answered to PMI-1's get_maxes and enforced on puts: a rank cannot
// grow the key-value space without bound.
const (
	MaxKVSName = 256
	MaxKeyLen  = 256
	MaxValLen  = 4096
	// MaxKeysPerRank bounds the puts of one rank between two fences.
	MaxKeysPerRank = 1024
)

// Job describes the step to its ranks.
type Job struct {
	// ID names the step's key-value space and PMI-2's job id, e.g. "12.0".
	ID string
	// Size is the number of ranks in the step; AppNum is 0 (one program).
	Size   int
	AppNum int
	// Mapping is PMI_process_mapping, which ranks share a node (see
	// Mapping).
	Mapping string
}

// Fencer joins one node's fence with the other nodes': it is given the
// puts made on this node since the last fence and returns every put of
// the step since then.
type Fencer interface {
	Fence(ctx context.Context, puts map[string]string) (map[string]string, error)
}

// FencerFunc adapts a function to Fencer.
type FencerFunc func(ctx context.Context, puts map[string]string) (map[string]string, error)

// Fence calls f.
func (f FencerFunc) Fence(ctx context.Context, puts map[string]string) (map[string]string, error) {
	return f(ctx, puts)
}

// Local is the Fencer of a step with one node: the node's puts are all.
var Local Fencer = FencerFunc(func(_ context.Context, puts map[string]string) (map[string]string, error) {
	return puts, nil
})

// ErrAborted is returned by Serve when a rank called abort.
var ErrAborted = errors.New("pmi: a rank aborted the job")

// Server serves the ranks of one step on one node.
type Server struct {
	job    Job
	local  int
	fencer Fencer

	mu      sync.Mutex
	kvs     map[string]string // fenced: visible to every rank
	pending map[string]string // put on this node since the last fence
	waiting int
	round   *round
	node    map[string]string // node attributes (PMI-2 info-putnodeattr)
	nodeCh  chan struct{}     // closed and replaced on every node put
}

type round struct {
	done chan struct{}
	err  error
}

// NewServer returns a server for local ranks of job on this node, whose
// fences go through f.
func NewServer(job Job, local int, f Fencer) *Server {
	s := &Server{
		job: job, local: local, fencer: f,
		kvs: map[string]string{}, pending: map[string]string{},
		round: &round{done: make(chan struct{})},
		node:  map[string]string{}, nodeCh: make(chan struct{}),
	}
	if job.Mapping != "" {
		// PMI-1 clients read the mapping as a key.
		s.kvs["PMI_process_mapping"] = job.Mapping
	}
	return s
}

// fence waits until every local rank has reached the fence, then joins the
// nodes' fence once for all of them.
func (s *Server) fence(ctx context.Context) error {
	s.mu.Lock()
	r := s.round
	s.waiting++
	if s.waiting < s.local {
		s.mu.Unlock()
		select {
		case <-r.done:
			return r.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	puts := s.pending
	s.pending = map[string]string{}
	s.waiting = 0
	s.round = &round{done: make(chan struct{})}
	s.mu.Unlock()

	all, err := s.fencer.Fence(ctx, puts)
	s.mu.Lock()
	maps.Copy(s.kvs, puts)
	maps.Copy(s.kvs, all)
	s.mu.Unlock()
	r.err = err
	close(r.done)
	return err
}

func (s *Server) put(key, val string, count *int) error {
	switch {
	case key == "" || len(key) > MaxKeyLen:
		return fmt.Errorf("key of %d bytes; give 1 to %d", len(key), MaxKeyLen)
	case len(val) > MaxValLen:
		return fmt.Errorf("value of %d bytes for key %s; at most %d", len(val), key, MaxValLen)
	case *count >= MaxKeysPerRank:
		return fmt.Errorf("more than %d puts between two fences", MaxKeysPerRank)
	}
	*count++
	s.mu.Lock()
	s.pending[key] = val
	s.mu.Unlock()
	return nil
}

func (s *Server) get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.kvs[key]; ok {
		return v, true
	}
	v, ok := s.pending[key]
	return v, ok
}

func (s *Server) putNode(key, val string) {
	s.mu.Lock()
	s.node[key] = val
	close(s.nodeCh)
	s.nodeCh = make(chan struct{})
	s.mu.Unlock()
}

// getNode returns a node attribute, waiting for it to be put if wait is set.
func (s *Server) getNode(ctx context.Context, key string, wait bool) (string, bool, error) {
	for {
		s.mu.Lock()
		v, ok := s.node[key]
		ch := s.nodeCh
		s.mu.Unlock()
		if ok || !wait {
			return v, ok, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", false, ctx.Err()
		}
	}
}

// Serve speaks PMI with the process of one rank on conn until it
// finalizes (nil), aborts (ErrAborted), closes the connection (io.EOF
// unless it finalized) or ctx ends.
func (s *Server) Serve(ctx context.Context, rank int, conn io.ReadWriter) error {
	if rank < 0 || rank >= s.job.Size {
		return fmt.Errorf("pmi: rank %d outside a step of %d ranks", rank, s.job.Size)
	}
	c := &rankConn{s: s, rank: rank, r: bufio.NewReader(conn), w: conn}
	first, err := c.r.Peek(1)
	if err != nil {
		return err
	}
	if first[0] >= '0' && first[0] <= '9' || first[0] == ' ' {
		return c.serve2(ctx)
	}
	return c.serve1(ctx)
}

type rankConn struct {
	s     *Server
	rank  int
	r     *bufio.Reader
	w     io.Writer
	puts  int
	fence int
}

// maxLine bounds a PMI-1 line: a put of the longest key and value with
// its keywords.
const maxLine = MaxKeyLen + MaxValLen + MaxKVSName + 64

func (c *rankConn) serve1(ctx context.Context) error {
	for {
		line, err := readLine(c.r, maxLine)
		if err != nil {
			return err
		}
		f := fields1(line)
		cmd := f["cmd"]
		if cmd == "" {
			cmd = f["mcmd"]
		}
		var resp string
		switch cmd {
		case "init":
			resp = "cmd=response_to_init pmi_version=1 pmi_subversion=1 rc=0"
		case "initack":
			resp = fmt.Sprintf("cmd=initack rc=0\ncmd=set size=%d\ncmd=set rank=%d\ncmd=set debug=0", c.s.job.Size, c.rank)
		case "get_maxes":
			resp = fmt.Sprintf("cmd=maxes kvsname_max=%d keylen_max=%d vallen_max=%d rc=0", MaxKVSName, MaxKeyLen, MaxValLen)
		case "get_appnum":
			resp = fmt.Sprintf("cmd=appnum appnum=%d rc=0", c.s.job.AppNum)
		case "get_my_kvsname":
			resp = "cmd=my_kvsname kvsname=" + c.s.job.ID + " rc=0"
		case "get_universe_size":
			resp = fmt.Sprintf("cmd=universe_size size=%d rc=0", c.s.job.Size)
		case "put":
			if err := c.s.put(f["key"], f["value"], &c.puts); err != nil {
				resp = "cmd=put_result rc=-1 msg=" + noSpaces(err.Error())
			} else {
				resp = "cmd=put_result rc=0 msg=success"
			}
		case "get":
			if v, ok := c.s.get(f["key"]); ok {
				resp = "cmd=get_result rc=0 msg=success value=" + v
			} else {
				resp = "cmd=get_result rc=-1 msg=key_" + noSpaces(f["key"]) + "_not_found"
			}
		case "barrier_in":
			c.puts = 0
			if err := c.s.fence(ctx); err != nil {
				return fmt.Errorf("pmi: fence: %w", err)
			}
			resp = "cmd=barrier_out rc=0"
		case "finalize":
			_, err := io.WriteString(c.w, "cmd=finalize_ack rc=0\n")
			return err
		case "abort":
			return fmt.Errorf("%w: rank %d (exit code %s)", ErrAborted, c.rank, f["exitcode"])
		default:
			resp = "cmd=" + noSpaces(cmd) + "_result rc=-1 msg=unsupported_by_this_pmi_server"
		}
		if _, err := io.WriteString(c.w, resp+"\n"); err != nil {
			return err
		}
	}
}

func readLine(r *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > max {
			return "", fmt.Errorf("pmi: a PMI-1 line longer than %d bytes", max)
		}
		if err == nil {
			return strings.TrimRight(string(b), "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// fields1 splits a PMI-1 line into its key=value words.
func fields1(line string) map[string]string {
	f := map[string]string{}
	for _, w := range strings.Fields(line) {
		k, v, _ := strings.Cut(w, "=")
		f[k] = v
	}
	return f
}

func noSpaces(s string) string { return strings.ReplaceAll(s, " ", "_") }

// serve2 speaks PMI-2: length-prefixed "cmd=...;key=value;..." messages.
func (c *rankConn) serve2(ctx context.Context) error {
	for {
		msg, err := read2(c.r)
		if err != nil {
			return err
		}
		f := fields2(msg)
		cmd := f["cmd"]
		var resp []string
		switch cmd {
		case "fullinit":
			resp = []string{"cmd=fullinit-response", "rc=0", "pmi-version=2", "pmi-subversion=0",
				"rank=" + strconv.Itoa(c.rank), "size=" + strconv.Itoa(c.s.job.Size),
				"appnum=" + strconv.Itoa(c.s.job.AppNum), "spawner-jobid=", "debugged=FALSE", "pmiverbose=FALSE"}
		case "job-getid":
			resp = []string{"cmd=job-getid-response", "rc=0", "jobid=" + esc2(c.s.job.ID)}
		case "info-getjobattr":
			var v string
			switch f["key"] {
			case "PMI_process_mapping":
				v = c.s.job.Mapping
			case "universeSize":
				v = strconv.Itoa(c.s.job.Size)
			}
			if v == "" {
				resp = []string{"cmd=info-getjobattr-response", "rc=0", "found=FALSE"}
			} else {
				resp = []string{"cmd=info-getjobattr-response", "rc=0", "found=TRUE", "value=" + esc2(v)}
			}
		case "info-putnodeattr":
			c.s.putNode(f["key"], f["value"])
			resp = []string{"cmd=info-putnodeattr-response", "rc=0"}
		case "info-getnodeattr":
			v, ok, err := c.s.getNode(ctx, f["key"], f["wait"] == "TRUE")
			if err != nil {
				return err
			}
			if ok {
				resp = []string{"cmd=info-getnodeattr-response", "rc=0", "found=TRUE", "value=" + esc2(v)}
			} else {
				resp = []string{"cmd=info-getnodeattr-response", "rc=0", "found=FALSE"}
			}
		case "kvs-put":
			if err := c.s.put(f["key"], f["value"], &c.puts); err != nil {
				resp = []string{"cmd=kvs-put-response", "rc=-1", "errmsg=" + esc2(err.Error())}
			} else {
				resp = []string{"cmd=kvs-put-response", "rc=0"}
			}
		case "kvs-fence":
			c.puts = 0
			if err := c.s.fence(ctx); err != nil {
				return fmt.Errorf("pmi: fence: %w", err)
			}
			resp = []string{"cmd=kvs-fence-response", "rc=0"}
		case "kvs-get":
			if v, ok := c.s.get(f["key"]); ok {
				resp = []string{"cmd=kvs-get-response", "rc=0", "found=TRUE", "value=" + esc2(v)}
			} else {
				resp = []string{"cmd=kvs-get-response", "rc=0", "found=FALSE"}
			}
		case "finalize":
			return write2(c.w, []string{"cmd=finalize-response", "rc=0"})
		case "abort":
			return fmt.Errorf("%w: rank %d: %s", ErrAborted, c.rank, f["msg"])
		default:
			resp = []string{"cmd=" + esc2(cmd) + "-response", "rc=-1", "errmsg=unsupported by this PMI server"}
		}
		if err := write2(c.w, resp); err != nil {
			return err
		}
	}
}

// maxMsg2 bounds a PMI-2 message (its length field has six digits).
const maxMsg2 = 2*(MaxKeyLen+MaxValLen) + 256

func read2(r *bufio.Reader) (string, error) {
	var hdr [6]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(hdr[:])))
	if err != nil || n < 0 || n > maxMsg2 {
		return "", fmt.Errorf("pmi: bad PMI-2 length field %q", hdr[:])
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf), nil
}

func write2(w io.Writer, parts []string) error {
	body := strings.Join(parts, ";") + ";"
	_, err := fmt.Fprintf(w, "%-6d%s", len(body), body)
	return err
}

// fields2 splits a PMI-2 message; ";;" stands for a ';' inside a value.
func fields2(msg string) map[string]string {
	f := map[string]string{}
	var cur strings.Builder
	flush := func() {
		k, v, _ := strings.Cut(cur.String(), "=")
		if k != "" {
			f[k] = v
		}
		cur.Reset()
	}
	for i := 0; i < len(msg); i++ {
		if msg[i] == ';' {
			if i+1 < len(msg) && msg[i+1] == ';' {
				cur.WriteByte(';')
				i++
				continue
			}
			flush()
			continue
		}
		cur.WriteByte(msg[i])
	}
	flush()
	return f
}

func esc2(s string) string { return strings.ReplaceAll(s, ";", ";;") }
