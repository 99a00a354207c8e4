package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
	"github.com/google/go-cmp/cmp"
)

func TestReadResponse(t *testing.T) {
	// Answers follow one another on a kept connection: each read must
	// stop at its answer's end.
	stream := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":42}" +
		"HTTP/1.1 409 Conflict\r\ncontent-length: 2\r\n\r\n{}" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2;ext=1\r\n2]\r\n0\r\nX-Trailer: t\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" +
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"
	want := []Response{
		{Status: 200, Body: []byte(`{"id":42}`)},
		{Status: 409, Body: []byte(`{}`)},
		{Status: 200, Body: []byte(`[1,2]`)},
		{Status: 204},
		{Status: 200, Close: true, Body: []byte{}},
		{Status: 200, Close: true, Body: []byte("x")},
	}
	br := bufio.NewReader(strings.NewReader(stream))
	for i, w := range want {
		got, err := ReadResponse(br)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if d := cmp.Diff(w, got); d != "" {
			t.Errorf("answer %d (-want +got):\n%s", i, d)
		}
	}
	if _, err := ReadResponse(br); err != io.EOF {
		t.Errorf("after the last answer: %v; want io.EOF", err)
	}
}

func TestReadResponseRefuses(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"no length", "HTTP/1.1 200 OK\r\n\r\n{}"},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n"},
		{"short status", "HTTP/1.1 20\r\n\r\n"},
		{"status not a number", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"status glued to text", "HTTP/1.1 2000 OK\r\n\r\n"},
		{"header without colon", "HTTP/1.1 200 OK\r\nContent-Length 2\r\n\r\n{}"},
		{"negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"},
		{"huge length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n"},
		{"body cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}"},
		{"headers cut short", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"},
		{"gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
		{"chunk without line end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx0\r\n\r\n"},
		{"chunks cut short", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadResponse(bufio.NewReader(strings.NewReader(tc.in)))
			if err == nil {
				t.Errorf("ReadResponse(%q) = %+v; want an error", tc.in, got)
			}
			if err == io.EOF {
				t.Errorf("ReadResponse(%q): a clean io.EOF inside an answer; want io.ErrUnexpectedEOF or a description", tc.in)
			}
		})
	}
}

// TestLightClient runs the command-line transport against Go's HTTP
// server, as the controller is: headers, bodies, a chunked list, errors,
// a URL with a path, and one connection kept across requests.
func TestLightClient(t *testing.T) {
	var conns atomic.Int32
	type seen struct{ method, path, user, token, ctype, agent, body string }
	var last seen
	mux := http.NewServeMux()
	mux.HandleFunc("/gefion/v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last = seen{r.Method, r.URL.RequestURI(), r.Header.Get(api.HeaderUser), r.Header.Get(api.HeaderToken), r.Header.Get("Content-Type"), r.UserAgent(), string(b)}
		if r.Method == "POST" {
			fmt.Fprint(w, `{"id":7}`)
			return
		}
		// Larger than net/http's buffer, so it goes out chunked.
		w.Write([]byte("[" + strings.Repeat(`{"id":1},`, 2000) + `{"id":2}]`))
	})
	mux.HandleFunc("/gefion/v1/jobs/9", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":{"code":"not_found","message":"no job 9"}}`)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	c := New(srv.URL+"/gefion/", "alice")
	if c.HTTP != nil || c.light == nil {
		t.Fatalf("New(%q) does not use the light transport", srv.URL)
	}
	ctx := context.Background()
	jobs, err := c.Jobs(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2001 || jobs[2000].ID != 2 {
		t.Errorf("Jobs read %d jobs; want 2001, the last with ID 2", len(jobs))
	}
	if want := (seen{"GET", "/gefion/v1/jobs?all=1", "alice", "", "", CommandUserAgent, ""}); last != want {
		t.Errorf("GET seen as %+v; want %+v", last, want)
	}
	resp, err := c.Submit(ctx, api.SubmitRequest{}, "k1")
	if err != nil || resp.ID != 7 {
		t.Fatalf("Submit = %+v, %v; want job 7", resp, err)
	}
	if last.method != "POST" || last.ctype != "application/json" || !strings.HasPrefix(last.body, "{") {
		t.Errorf("POST seen as %+v; want a JSON body", last)
	}
	_, err = c.Job(ctx, 9)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != "not_found" || ae.Message != "no job 9" {
		t.Errorf("Job(9) error %v; want the controller's not_found", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("three requests opened %d connections; want 1, kept", n)
	}
}

// TestLightClientRedialsClosedConnection checks that a kept connection
// the server has closed meanwhile is replaced for a request that may be
// sent again, as net/http's Transport does.
func TestLightClientRedialsClosedConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[]`)
	}))
	defer srv.Close()
	c := New(srv.URL, "alice")
	ctx := context.Background()
	if _, err := c.Jobs(ctx, false); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()
	time.Sleep(10 * time.Millisecond) // let the close reach the client's socket
	if _, err := c.Jobs(ctx, false); err != nil {
		t.Errorf("after the server closed the kept connection: %v; want a fresh connection", err)
	}
}

func TestLightClientErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := New(addr, "alice").Health(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Health on a closed port: %v; want ErrUnreachable", err)
	}

	// A server that never answers: the context's end must end the wait.
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := New(l.Addr().String(), "alice").Health(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Health on a silent server: %v; want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Health on a silent server returned after %v; want about the context's 100ms", d)
	}
}

func TestNewChoosesTransport(t *testing.T) {
	for _, tc := range []struct {
		addr         string
		light        bool
		host, prefix string
	}{
		{"127.0.0.1:8420", true, "127.0.0.1:8420", ""},
		{"http://ctl:8420/", true, "ctl:8420", ""},
		{"http://ctl/api", true, "ctl:80", "/api"},
		{"http://[::1]:8420", true, "[::1]:8420", ""},
		{"", true, "127.0.0.1:8420", ""},
		{"https://ctl:8420", false, "", ""},
		{"http://u@ctl:8420", false, "", ""},
	} {
		c := New(tc.addr, "alice")
		if got := c.light != nil && c.HTTP == nil; got != tc.light {
			t.Errorf("New(%q) light transport = %v; want %v", tc.addr, got, tc.light)
			continue
		}
		if tc.light && (c.light.host != tc.host || c.light.prefix != tc.prefix) {
			t.Errorf("New(%q) dials %q with prefix %q; want %q and %q", tc.addr, c.light.host, c.light.prefix, tc.host, tc.prefix)
		}
	}
	if c := NewPooled("127.0.0.1:8420", "alice"); c.HTTP == nil {
		t.Error("NewPooled does not use net/http")
	}
}

// TestLightClientReadsEarlyAnswer checks that an answer the server sends
// before reading the whole request (a body over its limit), and then
// closes the connection, reaches the caller instead of the broken pipe.
func TestLightClientReadsEarlyAnswer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for { // the request's head, then not its body
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		body := `{"error":{"code":"too_large","message":"request body over 1024 bytes"}}`
		fmt.Fprintf(c, "HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	}()
	big := api.SubmitRequest{}
	big.Spec.Script = strings.Repeat("x", 32<<20)
	_, err = New(l.Addr().String(), "alice").Submit(context.Background(), big, "")
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != "too_large" {
		t.Errorf("Submit of an oversized body: %v; want the server's too_large answer", err)
	}
}

// TestLightClientDropsOldConnection checks that a connection kept longer
// than the idle timeout is not reused: the controller closes idle
// connections after a while, and a request must not race that close.
func TestLightClientDropsOldConnection(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `[]`)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c := New(srv.URL, "alice")
	ctx := context.Background()
	for _, tc := range []struct {
		idle      time.Duration
		wantConns int32
	}{
		{time.Hour, 1},       // kept: both requests on one connection
		{time.Nanosecond, 2}, // too old: a second connection
	} {
		conns.Store(0)
		c.light.idle = nil
		c.light.idleTimeout = tc.idle
		for range 2 {
			if _, err := c.Jobs(ctx, false); err != nil {
				t.Fatal(err)
			}
		}
		if n := conns.Load(); n != tc.wantConns {
			t.Errorf("idle timeout %v: two requests opened %d connections; want %d", tc.idle, n, tc.wantConns)
		}
	}
}
