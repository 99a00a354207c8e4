package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/gefion-hpc/gefion/internal/client"
	"github.com/gefion-hpc/gefion/internal/job"
)

// benchConn is one keep-alive HTTP/1.1 connection that makes the same
// request over and over: the load tool's own client. It sends exactly what
// the client package sends, but without net/http's transport machinery
// (two goroutines per connection, a header map and a request object per
// call), so that on a machine shared with the controller the cores go to
// the controller being measured. Every answer is read and checked.
type benchConn struct {
	addr string
	conn net.Conn
	br   *bufio.Reader
	req  []byte // the whole request, head and body
}

// newBenchConn prepares a connection for POSTing body to path on the
// controller at base (an http:// URL), with the client's headers.
func newBenchConn(base, path string, hdr map[string]string, body []byte) (*benchConn, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("the load tool needs an http://host:port address, not %q", base)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", strings.TrimRight(u.Path, "/"), path, u.Host, len(body))
	for k, v := range hdr {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	b.WriteString("\r\n")
	b.Write(body)
	return &benchConn{addr: u.Host, req: []byte(b.String())}, nil
}

// submit sends the request once and returns the job ID the controller
// answered with. A connection the controller closed is redialled once.
func (b *benchConn) submit() (job.ID, error) {
	for attempt := 0; ; attempt++ {
		id, fresh, err := b.try()
		if err == nil || fresh || attempt > 0 {
			return id, err
		}
		b.close() // a stale keep-alive connection: dial again
	}
}

// try makes one request; fresh reports that the connection was new, so
// that a failure is not the controller closing an idle one.
func (b *benchConn) try() (id job.ID, fresh bool, err error) {
	if b.conn == nil {
		c, err := net.DialTimeout("tcp", b.addr, 5*time.Second)
		if err != nil {
			return 0, true, err
		}
		b.conn, b.br, fresh = c, bufio.NewReaderSize(c, 4096), true
	}
	if _, err := b.conn.Write(b.req); err != nil {
		b.close()
		return 0, fresh, err
	}
	resp, err := b.readResponse()
	if err != nil {
		b.close()
		return 0, fresh, err
	}
	if resp.close {
		b.close()
	}
	data := resp.body
	if resp.status != http.StatusOK {
		var eb api.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Message != "" {
			return 0, fresh, &eb.Error
		}
		return 0, fresh, fmt.Errorf("controller answered HTTP status %d", resp.status)
	}
	var out struct {
		ID job.ID `json:"id"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.ID <= 0 {
		return 0, fresh, fmt.Errorf("controller answered without a job ID: %.100q", data)
	}
	return out.ID, fresh, nil
}

// benchResponse is what the load tool reads of an answer.
type benchResponse struct {
	status int
	close  bool
	body   []byte
}

// readResponse reads one HTTP/1.1 response: the status line, the headers
// (only Content-Length and Connection matter here) and a body of the
// declared length. The controller declares the length of every answer to
// a submission; a chunked one is an error, not silently misread.
func (b *benchConn) readResponse() (benchResponse, error) {
	var r benchResponse
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return r, fmt.Errorf("malformed HTTP status line %.40q", line)
	}
	if r.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return r, fmt.Errorf("malformed HTTP status line %.40q", line)
	}
	length := -1
	for {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			return r, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, fmt.Errorf("malformed HTTP header %.40q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return r, fmt.Errorf("malformed Content-Length %.20q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return r, fmt.Errorf("the controller sent a %s body; the load tool reads only bodies of declared length", value)
		case bytes.EqualFold(name, []byte("Connection")):
			r.close = bytes.EqualFold(value, []byte("close"))
		}
	}
	if length < 0 {
		return r, errors.New("the controller's answer has no Content-Length")
	}
	r.body = make([]byte, length)
	_, err = io.ReadFull(b.br, r.body)
	return r, err
}

func (b *benchConn) close() {
	if b.conn != nil {
		b.conn.Close()
		b.conn, b.br = nil, nil
	}
}

// submitLoadRaw is submitLoad over benchConns: n submissions of spec over
// conc connections. It also checks that every acknowledged submission got
// its own job ID.
func submitLoadRaw(ctx context.Context, c *client.Client, n, conc int, spec job.Spec) ([]time.Duration, int, time.Duration, error) {
	body, err := json.Marshal(api.SubmitRequest{Spec: spec})
	if err != nil {
		return nil, 0, 0, err
	}
	hdr := map[string]string{api.HeaderUser: c.User, api.HeaderToken: c.Token}
	conns := make([]*benchConn, conc)
	for w := range conns {
		if conns[w], err = newBenchConn(c.Base, "/v1/jobs", hdr, body); err != nil {
			return nil, 0, 0, err
		}
	}
	lat := make([]time.Duration, n)
	ids := make([]job.ID, n)
	var next, errs atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for _, bc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer bc.close()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				t := time.Now()
				id, err := bc.submit()
				lat[i] = time.Since(t)
				ids[i] = id
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if e, ok := firstErr.Load().(string); ok {
		slog.Warn("submissions failed", "count", errs.Load(), "first", e)
	}
	seen := make(map[job.ID]bool, n)
	for _, id := range ids {
		if id == 0 {
			continue
		}
		if seen[id] {
			return nil, 0, 0, fmt.Errorf("the controller gave job ID %d to two submissions", id)
		}
		seen[id] = true
	}
	return lat, int(errs.Load()), wall, nil
}
