package agent

import (
	"bufio"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/gefion-hpc/gefion/internal/job"
)

// The step I/O protocol. srun listens; each node's agent connects to it
// for one step and carries the I/O of the step's tasks on that node.
// Both ends hold the step's I/O key (the controller drew it and gave it
// to srun in the API reply and to the agents in their sync replies), and
// each proves it before anything else flows:
//
//	srun  -> agent  nonce S (16 bytes)
//	agent -> srun   hello: "GFS1", job (8), step (4), node index (4),
//	                nonce A (16), HMAC-SHA256(key, "agent" | S | hello fields | A)
//	srun  -> agent  HMAC-SHA256(key, "srun" | A | S)
//
// srun sends nothing secret before it has checked the agent, and the
// agent sends no output (and takes no input) before it has checked srun:
// a stale or forged srun address gets nothing, and a process that merely
// knows srun's port cannot inject output or read input. After the
// handshake, both sides send frames:
//
//	type (1) | task rank (4) | length (4) | payload (length bytes)
//
// Agent to srun: FrameStdout and FrameStderr carry a task's output in the
// order the task wrote it; FrameExit a task's end (exit code, 4 bytes,
// then the name of the signal that killed it, if any); FrameError a
// message for srun to print (the node could not start the tasks);
// FrameDone that every task of the node has ended. srun to agent:
// FrameStdin carries input for a task, FrameStdinEOF closes it. If the
// connection drops before FrameDone, the agent kills the step's tasks on
// its node: srun is gone, and nobody would read their output.

// Frame types.
const (
	FrameStdout   byte = 1
	FrameStderr   byte = 2
	FrameExit     byte = 3
	FrameError    byte = 4
	FrameDone     byte = 5
	FrameStdin    byte = 6
	FrameStdinEOF byte = 7
)

// maxFrame bounds a frame's payload: output is sent in chunks at most
// this large, and a larger frame is a protocol error.
const maxFrame = 64 << 10

const helloMagic = "GFS1"

// StepHello is who an agent says it is when it connects to srun.
type StepHello struct {
	JobID     job.ID
	StepID    int
	NodeIndex int
}

// ErrStepAuth means the other end does not hold the step's I/O key.
var ErrStepAuth = errors.New("step I/O: the other end does not hold the step's key")

func stepMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// DecodeStepKey decodes a step's hex I/O key.
func DecodeStepKey(s string) ([]byte, error) {
	k, err := hex.DecodeString(s)
	if err != nil || len(k) < 16 {
		return nil, errors.New("step I/O key is malformed")
	}
	return k, nil
}

func helloBytes(h StepHello) []byte {
	b := make([]byte, 0, 4+8+4+4)
	b = append(b, helloMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.JobID))
	b = binary.BigEndian.AppendUint32(b, uint32(h.StepID))
	b = binary.BigEndian.AppendUint32(b, uint32(h.NodeIndex))
	return b
}

// AgentHandshake is the agent's side of the handshake on a fresh
// connection to srun.
func AgentHandshake(rw io.ReadWriter, key []byte, h StepHello) error {
	var s [16]byte
	if _, err := io.ReadFull(rw, s[:]); err != nil {
		return fmt.Errorf("step I/O: reading srun's nonce: %w", err)
	}
	var a [16]byte
	if _, err := rand.Read(a[:]); err != nil {
		return err
	}
	hb := helloBytes(h)
	msg := append(append(slicesClone(hb), a[:]...), stepMAC(key, []byte("agent"), s[:], hb, a[:])...)
	if _, err := rw.Write(msg); err != nil {
		return fmt.Errorf("step I/O: sending hello: %w", err)
	}
	var mac [sha256.Size]byte
	if _, err := io.ReadFull(rw, mac[:]); err != nil {
		return fmt.Errorf("step I/O: srun did not answer the hello: %w", err)
	}
	if !hmac.Equal(mac[:], stepMAC(key, []byte("srun"), a[:], s[:])) {
		return ErrStepAuth
	}
	return nil
}

// SrunHandshake is srun's side: it returns the hello of an agent that
// proved it holds key, or ErrStepAuth.
func SrunHandshake(rw io.ReadWriter, key []byte) (StepHello, error) {
	var s [16]byte
	if _, err := rand.Read(s[:]); err != nil {
		return StepHello{}, err
	}
	if _, err := rw.Write(s[:]); err != nil {
		return StepHello{}, err
	}
	var msg [20 + 16 + sha256.Size]byte
	if _, err := io.ReadFull(rw, msg[:]); err != nil {
		return StepHello{}, fmt.Errorf("step I/O: reading an agent's hello: %w", err)
	}
	hb, a, mac := msg[:20], msg[20:36], msg[36:]
	if string(hb[:4]) != helloMagic {
		return StepHello{}, ErrStepAuth
	}
	if !hmac.Equal(mac, stepMAC(key, []byte("agent"), s[:], hb, a)) {
		return StepHello{}, ErrStepAuth
	}
	h := StepHello{
		JobID:     job.ID(binary.BigEndian.Uint64(hb[4:12])),
		StepID:    int(binary.BigEndian.Uint32(hb[12:16])),
		NodeIndex: int(binary.BigEndian.Uint32(hb[16:20])),
	}
	if _, err := rw.Write(stepMAC(key, []byte("srun"), a, s[:])); err != nil {
		return StepHello{}, err
	}
	return h, nil
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

// Frame is one frame of the step I/O protocol.
type Frame struct {
	Type    byte
	Task    int
	Payload []byte
}

// FrameWriter writes frames; it is safe for concurrent use, and each frame
// reaches the connection whole and at once (no buffering across frames),
// so that a task's output is as prompt as the task wrote it.
type FrameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
	err error
}

// NewFrameWriter returns a frame writer on w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write sends one frame, splitting a payload over maxFrame.
func (fw *FrameWriter) Write(typ byte, task int, payload []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
	// All the frames of a payload go out in one write: a task's output
	// read in large chunks costs one system call, not one per frame.
	fw.buf = fw.buf[:0]
	for {
		n := min(len(payload), maxFrame)
		fw.buf = append(fw.buf, typ)
		fw.buf = binary.BigEndian.AppendUint32(fw.buf, uint32(task))
		fw.buf = binary.BigEndian.AppendUint32(fw.buf, uint32(n))
		fw.buf = append(fw.buf, payload[:n]...)
		payload = payload[n:]
		if len(payload) == 0 {
			break
		}
	}
	_, fw.err = fw.w.Write(fw.buf)
	return fw.err
}

// WriteExit sends a task's exit frame.
func (fw *FrameWriter) WriteExit(task, code int, signal string) error {
	p := binary.BigEndian.AppendUint32(nil, uint32(int32(code)))
	return fw.Write(FrameExit, task, append(p, signal...))
}

// FrameWinsize (srun to agent) carries a terminal's size for a task on a
// pseudo-terminal (srun --pty): rows and columns, 2 bytes each.
const FrameWinsize byte = 12

// Winsize encodes a FrameWinsize payload.
func Winsize(rows, cols uint16) []byte {
	return binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, rows), cols)
}

// ParseWinsize decodes a FrameWinsize payload.
func ParseWinsize(p []byte) (rows, cols uint16, ok bool) {
	if len(p) != 4 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:]), true
}

// ParseExit decodes an exit frame's payload.
func ParseExit(p []byte) (code int, signal string, err error) {
	if len(p) < 4 {
		return 0, "", errors.New("step I/O: short exit frame")
	}
	return int(int32(binary.BigEndian.Uint32(p))), string(p[4:]), nil
}

// FrameReader reads frames.
type FrameReader struct {
	r   *bufio.Reader
	hdr [9]byte
}

// NewFrameReader returns a frame reader on r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Read returns the next frame; its payload is valid until the next Read.
// It returns io.EOF at a clean end between frames.
func (fr *FrameReader) Read(buf []byte) (Frame, []byte, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("step I/O: connection cut inside a frame: %w", err)
		}
		return Frame{}, buf, err
	}
	n := binary.BigEndian.Uint32(fr.hdr[5:9])
	if n > maxFrame {
		return Frame{}, buf, fmt.Errorf("step I/O: frame of %d bytes; at most %d", n, maxFrame)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		return Frame{}, buf, fmt.Errorf("step I/O: connection cut inside a frame: %w", err)
	}
	// The task is a signed rank: api.StdinAll (-2) names every task.
	return Frame{Type: fr.hdr[0], Task: int(int32(binary.BigEndian.Uint32(fr.hdr[1:5]))), Payload: buf}, buf, nil
}
