package cli

import (
	"bufio"
	"strings"
	"testing"
)

func TestBenchConnReadsResponses(t *testing.T) {
	stream := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":42}" +
		"HTTP/1.1 409 Conflict\r\ncontent-length: 2\r\nConnection: close\r\n\r\n{}"
	b := &benchConn{br: bufio.NewReader(strings.NewReader(stream))}
	r, err := b.readResponse()
	if err != nil || r.status != 200 || r.close || string(r.body) != `{"id":42}` {
		t.Fatalf("first response: %+v, %v", r, err)
	}
	r, err = b.readResponse()
	if err != nil || r.status != 409 || !r.close || string(r.body) != "{}" {
		t.Fatalf("second response: %+v, %v", r, err)
	}
	for _, bad := range []string{
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n{}",
		"SSH-2.0-OpenSSH\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}",
	} {
		b := &benchConn{br: bufio.NewReader(strings.NewReader(bad))}
		if r, err := b.readResponse(); err == nil {
			t.Errorf("%q read as %+v; want an error", bad, r)
		}
	}
}
