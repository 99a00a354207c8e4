package controller

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gefion-hpc/gefion/internal/api"
)

// serveAPI serves the controller's API through NewHTTPServer and
// LimitListener on a loopback port and returns its address.
func serveAPI(t *testing.T, cfg HTTPConfig, perIP int) string {
	t.Helper()
	h := newHarness(t, Config{}, nil, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h.ctl.Handler(), cfg)
	go func() { _ = srv.Serve(LimitListener(ln, perIP)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

const healthRequest = "GET /v1/health HTTP/1.1\r\nHost: gefion\r\n" + api.HeaderUser + ": alice\r\n\r\n"

// health asks for /v1/health on conn and reports whether it was answered.
func health(conn net.Conn, br *bufio.Reader) error {
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, healthRequest); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// TestSlowClientsAreCutOff trickles a request's head or body one byte at a
// time and checks that the server closes the connection once the read
// timeout has passed, long before the client would have finished.
func TestSlowClientsAreCutOff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	addr := serveAPI(t, HTTPConfig{ReadHeaderTimeout: timeout, ReadTimeout: timeout, IdleTimeout: timeout}, 0)
	for _, tc := range []struct {
		name, head, trickle string
	}{
		{"slow body", "POST /v1/jobs HTTP/1.1\r\nHost: gefion\r\n" + api.HeaderUser + ": alice\r\nContent-Length: 200\r\n\r\n", "x"},
		{"slow head", "GET /v1/health HTTP/1.1\r\n", "X-Slow: y\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.head); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			// 200 pieces at one per 20 ms would take 4 s.
			go func() {
				for i := 0; i < 200; i++ {
					if _, err := io.WriteString(conn, tc.trickle); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn) // whatever the server answers, until it closes
			took := time.Since(start)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server still held the connection after %v", took)
			}
			if took > 3*time.Second {
				t.Errorf("the server closed the connection after %v; want about %v", took, timeout)
			}
		})
	}
	// A client that is not slow is served.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := health(conn, bufio.NewReader(conn)); err != nil {
		t.Errorf("a prompt request: %v", err)
	}
}

// TestConnectionsPerIPAreBounded holds the bound's worth of keep-alive
// connections open and checks that the next one is closed at once, and
// that closing one lets a new one in.
func TestConnectionsPerIPAreBounded(t *testing.T) {
	const perIP = 3
	addr := serveAPI(t, HTTPConfig{}, perIP)
	var held []net.Conn
	for i := 0; i < perIP; i++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := health(conn, bufio.NewReader(conn)); err != nil {
			t.Fatalf("connection %d of %d: %v", i+1, perIP, err)
		}
		held = append(held, conn)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := health(conn, bufio.NewReader(conn)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection %d from one address: %v; want it closed at once", perIP+1, err)
	}
	// The first connections are still served.
	if err := health(held[0], bufio.NewReader(held[0])); err != nil {
		t.Errorf("a held connection after the refusal: %v", err)
	}
	held[1].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		err = health(conn, bufio.NewReader(conn))
		conn.Close()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("closing a connection did not free its slot: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewHTTPServerDefaults(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler(), HTTPConfig{})
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout != DefaultReadTimeout || srv.IdleTimeout <= 0 || srv.WriteTimeout != 0 {
		t.Errorf("NewHTTPServer(zero config): ReadHeaderTimeout %v, ReadTimeout %v, IdleTimeout %v, WriteTimeout %v; want all read and idle bounds set, no write bound",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.IdleTimeout, srv.WriteTimeout)
	}
}
