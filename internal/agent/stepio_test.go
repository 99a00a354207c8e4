package agent

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
)

// handshake runs both sides over a pipe with the given keys.
func handshake(t *testing.T, agentKey, srunKey []byte) (StepHello, error, error) {
	t.Helper()
	a, s := net.Pipe()
	defer a.Close()
	defer s.Close()
	errc := make(chan error, 1)
	go func() {
		err := AgentHandshake(a, agentKey, StepHello{JobID: 12, StepID: 3, NodeIndex: 1})
		if err != nil {
			a.Close() // as the agent does: it gives up on the connection
		}
		errc <- err
	}()
	h, serr := SrunHandshake(s, srunKey)
	if serr != nil {
		s.Close()
	}
	return h, serr, <-errc
}

func TestStepHandshake(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	h, serr, aerr := handshake(t, key, key)
	if serr != nil || aerr != nil {
		t.Fatalf("handshake with the same key: srun %v, agent %v", serr, aerr)
	}
	if h != (StepHello{JobID: 12, StepID: 3, NodeIndex: 1}) {
		t.Errorf("hello = %+v; want job 12 step 3 node 1", h)
	}
	// An agent without the key is refused by srun, and learns nothing.
	other := bytes.Repeat([]byte{8}, 32)
	_, serr, aerr = handshake(t, other, key)
	if !errors.Is(serr, ErrStepAuth) {
		t.Errorf("srun's handshake with a wrong-key agent = %v; want ErrStepAuth", serr)
	}
	if aerr == nil {
		t.Error("a wrong-key agent's handshake succeeded")
	}
	// A listener without the key (a stale or forged address) is refused
	// by the agent.
	_, _, aerr = handshake(t, key, other)
	if aerr == nil {
		t.Error("the agent accepted a srun without the key")
	}
}

func TestFramesRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf)
	big := bytes.Repeat([]byte("x"), maxFrame+10)
	if err := fw.Write(FrameStdout, 5, []byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(FrameStderr, 6, big); err != nil {
		t.Fatal(err)
	}
	if err := fw.WriteExit(5, 3, "KILL"); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(&buf)
	var got []Frame
	var b []byte
	for {
		f, nb, err := fr.Read(b)
		b = nb
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		f.Payload = append([]byte(nil), f.Payload...)
		got = append(got, f)
	}
	if len(got) != 4 || string(got[0].Payload) != "hello\n" || got[0].Task != 5 || got[0].Type != FrameStdout {
		t.Fatalf("frames = %d, first %+v; want 4 (a big payload is split)", len(got), got[0])
	}
	if len(got[1].Payload) != maxFrame || len(got[2].Payload) != 10 || got[2].Type != FrameStderr || got[2].Task != 6 {
		t.Errorf("split frames: %d and %d bytes; want %d and 10", len(got[1].Payload), len(got[2].Payload), maxFrame)
	}
	code, sig, err := ParseExit(got[3].Payload)
	if err != nil || code != 3 || sig != "KILL" || got[3].Type != FrameExit {
		t.Errorf("exit frame = %d, %q, %v; want 3 KILL", code, sig, err)
	}
	// An oversized frame is a protocol error, not an allocation.
	bad := []byte{FrameStdout, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff}
	if _, _, err := NewFrameReader(bytes.NewReader(bad)).Read(nil); err == nil {
		t.Error("a 2 GB frame header was accepted")
	}
}

func TestWinsizeRoundTrip(t *testing.T) {
	rows, cols, ok := ParseWinsize(Winsize(48, 160))
	if !ok || rows != 48 || cols != 160 {
		t.Errorf("ParseWinsize(Winsize(48, 160)) = %d, %d, %v", rows, cols, ok)
	}
	if _, _, ok := ParseWinsize([]byte{1, 2, 3}); ok {
		t.Error("ParseWinsize accepted 3 bytes")
	}
}
