package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

// conn1 sends requests over plain HTTP/1.1 connections, keeping one idle
// connection for the next request. It is the transport of the command-line
// client: a command makes one or a few requests and exits, and net/http's
// Transport (connection pool, proxy and TLS set-up, HTTP/2 probing, two
// goroutines per connection) costs more start-up time, in code paged in,
// than the request itself. The controller speaks HTTP/1.1 without TLS.
type conn1 struct {
	host string // host:port, also the Host header
	// prefix is the path of the controller's URL, put before every
	// request's path ("" for most controllers).
	prefix string

	// idleTimeout is how long a kept connection may wait for the next
	// request (0: maxIdle).
	idleTimeout time.Duration

	mu        sync.Mutex
	idle      *bufConn // a connection free for the next request, or nil
	idleSince time.Time
}

// maxIdle is how long a connection is kept for the next request: as with
// net/http's client (90 s), shorter than the controller's idle timeout
// (120 s), so that the client closes it and a request never races the
// server's close.
const maxIdle = 90 * time.Second

// bufConn is a connection and the reader of its answers.
type bufConn struct {
	net.Conn
	br *bufio.Reader
}

// CommandUserAgent is the User-Agent of requests sent by New's clients:
// it tells the controller's logs, and the start-up test, that a command
// used its own transport rather than net/http's ("Go-http-client/1.1").
const CommandUserAgent = "gefion-command"

// Response is one HTTP/1.1 answer as the client reads it.
type Response struct {
	Status int
	// Close says the server closes the connection after this answer.
	Close bool
	Body  []byte
}

// maxBody bounds an answer's body, so that a misbehaving server cannot
// make a command allocate without limit.
const maxBody = 1 << 30

// roundTrip sends one request and reads its answer. hdr holds header
// names and values in turn. A connection kept from an earlier request
// that turns out to be closed by the server is replaced once, when the
// request may safely be sent again (see retryable).
func (t *conn1) roundTrip(ctx context.Context, method, path string, hdr []string, body []byte) (Response, error) {
	req := t.encode(method, path, hdr, body)
	for attempt := 0; ; attempt++ {
		c, reused, err := t.get(ctx)
		if err != nil {
			return Response{}, err
		}
		resp, wrote, err := exchange(ctx, c, req)
		if err == nil {
			t.put(c, resp.Close)
			return resp, nil
		}
		c.Close()
		if attempt > 0 || !reused || !retryable(method, hdr, wrote, err) || ctx.Err() != nil {
			return Response{}, err
		}
	}
}

// retryable says whether a request that failed on a reused connection may
// be sent again: the server closes idle connections, and a request that
// meets such a close either was never written, or is one that the server
// would answer the same way twice (a read, or a submission with an
// idempotency key). Only a connection closed before any answer counts.
func retryable(method string, hdr []string, wrote bool, err error) bool {
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !isReset(err) {
		return false
	}
	if !wrote || method == "GET" || method == "HEAD" {
		return true
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == api.HeaderIdemKey && hdr[i+1] != "" {
			return true
		}
	}
	return false
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op != "dial"
}

// encode writes the request's head and body.
func (t *conn1) encode(method, path string, hdr []string, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(128 + len(path) + len(body))
	b.WriteString(method)
	b.WriteByte(' ')
	b.WriteString(t.prefix)
	b.WriteString(path)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(t.host)
	b.WriteString("\r\nUser-Agent: " + CommandUserAgent + "\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			continue
		}
		b.WriteString(hdr[i])
		b.WriteString(": ")
		b.WriteString(hdr[i+1])
		b.WriteString("\r\n")
	}
	if body != nil || method == "POST" || method == "PUT" || method == "PATCH" {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// get returns the idle connection, or a new one.
func (t *conn1) get(ctx context.Context) (c *bufConn, reused bool, err error) {
	t.mu.Lock()
	c, t.idle = t.idle, nil
	since := t.idleSince
	t.mu.Unlock()
	if c != nil {
		limit := t.idleTimeout
		if limit <= 0 {
			limit = maxIdle
		}
		if time.Since(since) < limit {
			return c, true, nil
		}
		c.Close()
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.host)
	if err != nil {
		return nil, false, err
	}
	return &bufConn{Conn: nc, br: bufio.NewReaderSize(nc, 16<<10)}, false, nil
}

// put keeps c for the next request, unless the server closes it or a
// connection is kept already.
func (t *conn1) put(c *bufConn, closing bool) {
	t.mu.Lock()
	if !closing && t.idle == nil {
		t.idle, t.idleSince, c = c, time.Now(), nil
	}
	t.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// exchange writes req on c and reads the answer, giving up when ctx ends.
// wrote reports that the request was written whole.
func exchange(ctx context.Context, c *bufConn, req []byte) (resp Response, wrote bool, err error) {
	// The context's end, cancellation or deadline, unblocks the write or
	// read in progress; it is not copied into the connection's deadline,
	// so that the error seen is always the context's.
	c.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	if _, werr := c.Write(req); werr != nil {
		// The server may have answered and closed before reading the
		// whole request (a body over its limit): its answer says more
		// than the broken pipe.
		resp, err = ReadResponse(c.br)
		stop()
		if err != nil {
			return Response{}, false, werr
		}
		resp.Close = true
		return resp, true, nil
	}
	resp, err = ReadResponse(c.br)
	if !stop() {
		// The context ended as the answer came: its deadline may yet
		// land on the connection, which is therefore not kept.
		resp.Close = true
	}
	return resp, true, err
}

// ReadResponse reads one HTTP/1.1 answer from br: the status line, the
// headers (only Content-Length, Transfer-Encoding and Connection matter)
// and the body, of declared length or chunked. It reads nothing past the
// answer, so the next answer on a kept connection can follow. An answer
// with neither a length nor chunks is refused rather than read to the end
// of the connection: the controller (Go's HTTP server) always sends one.
func ReadResponse(br *bufio.Reader) (Response, error) {
	var r Response
	line, err := br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 13 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[12] != ' ' && line[12] != '\r' && line[12] != '\n' {
		return r, fmt.Errorf("malformed HTTP status line %.40q", line)
	}
	if r.Status, err = strconv.Atoi(string(line[9:12])); err != nil || r.Status < 100 {
		return r, fmt.Errorf("malformed HTTP status line %.40q", line)
	}
	if line[7] == '0' {
		r.Close = true // HTTP/1.0 closes unless told otherwise
	}
	length, chunked := int64(-1), false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return r, noEOF(err)
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
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 || length > maxBody {
				return r, fmt.Errorf("malformed Content-Length %.20q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return r, fmt.Errorf("unsupported Transfer-Encoding %.20q", value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			r.Close = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case r.Status < 200 || r.Status == 204 || r.Status == 304:
		// No body, whatever the headers say.
	case chunked:
		r.Body, err = readChunked(br)
	case length < 0:
		return r, errors.New("the HTTP answer has neither a Content-Length nor chunks")
	default:
		r.Body = make([]byte, length)
		_, err = io.ReadFull(br, r.Body)
		err = noEOF(err)
	}
	return r, err
}

// readChunked reads a chunked body and its trailer.
func readChunked(br *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, noEOF(err)
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 || n > maxBody-int64(len(body)) {
			return nil, fmt.Errorf("malformed HTTP chunk size %.20q", line)
		}
		if n == 0 {
			break
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return nil, noEOF(err)
		}
		if crlf, err := br.ReadSlice('\n'); err != nil || len(bytes.TrimRight(crlf, "\r\n")) != 0 {
			return nil, errors.New("malformed HTTP chunk: no line end after its data")
		}
	}
	for { // trailer lines, up to an empty one
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, noEOF(err)
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return body, nil
		}
	}
}

// noEOF turns an end of the connection inside an answer into
// io.ErrUnexpectedEOF: only a connection that ends before the answer's
// first byte ends cleanly.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
