package quantum

import (
	"bufio"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"time"
)

// Comm connects the tasks of a distributed run: task Rank of Size (a
// power of two) holds one TCP connection to each of its log2(Size)
// partners, the tasks whose rank differs from its own in one bit. Those
// are the only pairs that ever exchange amplitudes (a qubit remap swaps
// one rank bit), and the hypercube they form carries the collectives
// too: an all-reduce in log2(Size) steps and a gather to task 0.
//
// Every task calls the collectives in the same order, so messages need no
// tags: each connection carries a sequence both ends agree on.
type Comm struct {
	Rank, Size int
	// peers[j] is the connection to Rank ^ (1 << j).
	peers []*peerConn
	// Sent counts the bytes this task sent to its partners.
	Sent int64
	// Remaps counts the qubit remaps of the runs over this Comm, the same
	// on every task.
	Remaps int
}

type peerConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// commHello starts every connection: a magic word, the dialer's rank and
// the step's token, so that a stray connection to a task's port is turned
// away rather than taken for a partner.
const commMagic = 0x67657164 // "geqd"

// commTimeout bounds how long the tasks wait for one another to connect.
const commTimeout = 60 * time.Second

// Connect joins task rank of size to its partners. ln is this task's
// listener, whose address addrs[rank] is; addrs holds every task's. token
// is the step's shared secret (any length up to 64 bytes). The lower rank
// of each pair dials; the higher accepts.
func Connect(rank, size int, ln net.Listener, addrs []string, token []byte) (*Comm, error) {
	if size < 1 || size&(size-1) != 0 {
		return nil, fmt.Errorf("the number of tasks must be a power of two, got %d", size)
	}
	if rank < 0 || rank >= size || len(addrs) != size {
		return nil, fmt.Errorf("task %d of %d with %d addresses", rank, size, len(addrs))
	}
	if len(token) > 64 {
		return nil, errors.New("the step token is longer than 64 bytes")
	}
	g := bits.TrailingZeros(uint(size))
	c := &Comm{Rank: rank, Size: size, peers: make([]*peerConn, g)}
	deadline := time.Now().Add(commTimeout)
	accepts := 0
	for j := range g {
		p := rank ^ 1<<j
		if rank > p {
			accepts++
			continue
		}
		var conn net.Conn
		var err error
		for {
			conn, err = net.DialTimeout("tcp", addrs[p], time.Until(deadline))
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("task %d connecting to task %d at %s: %w", rank, p, addrs[p], err)
		}
		hello := make([]byte, 12+len(token))
		binary.LittleEndian.PutUint32(hello, commMagic)
		binary.LittleEndian.PutUint32(hello[4:], uint32(rank))
		binary.LittleEndian.PutUint32(hello[8:], uint32(len(token)))
		copy(hello[12:], token)
		if _, err := conn.Write(hello); err != nil {
			conn.Close()
			c.Close()
			return nil, fmt.Errorf("task %d greeting task %d: %w", rank, p, err)
		}
		c.peers[j] = newPeerConn(conn)
	}
	if tl, ok := ln.(*net.TCPListener); ok {
		_ = tl.SetDeadline(deadline)
	}
	for accepts > 0 {
		conn, err := ln.Accept()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("task %d waiting for its partners: %w", rank, err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var h [12]byte
		if _, err := io.ReadFull(conn, h[:]); err != nil || binary.LittleEndian.Uint32(h[:]) != commMagic {
			conn.Close()
			continue
		}
		from := int(binary.LittleEndian.Uint32(h[4:]))
		n := binary.LittleEndian.Uint32(h[8:])
		got := make([]byte, min(n, 64))
		if n > 64 || from >= size || bits.OnesCount(uint(from^rank)) != 1 || from > rank {
			conn.Close()
			continue
		}
		if _, err := io.ReadFull(conn, got); err != nil || subtle.ConstantTimeCompare(got, token) != 1 {
			conn.Close()
			continue
		}
		j := bits.TrailingZeros(uint(from ^ rank))
		if c.peers[j] != nil {
			conn.Close()
			continue
		}
		_ = conn.SetReadDeadline(time.Time{})
		c.peers[j] = newPeerConn(conn)
		accepts--
	}
	return c, nil
}

func newPeerConn(conn net.Conn) *peerConn {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return &peerConn{c: conn, r: bufio.NewReaderSize(conn, 1<<16), w: bufio.NewWriterSize(conn, 1<<16)}
}

// Close closes every connection.
func (c *Comm) Close() {
	for _, p := range c.peers {
		if p != nil {
			p.c.Close()
		}
	}
}

// Bits is log2(Size): the number of qubits that index tasks.
func (c *Comm) Bits() int { return len(c.peers) }

// Exchange sends send to the partner across rank bit j and fills recv
// (as long as send) with what the partner sends; both directions flow at
// once.
func (c *Comm) Exchange(j int, send, recv []byte) error {
	p := c.peers[j]
	errc := make(chan error, 1)
	go func() {
		_, err := p.w.Write(send)
		if err == nil {
			err = p.w.Flush()
		}
		errc <- err
	}()
	_, rerr := io.ReadFull(p.r, recv)
	werr := <-errc
	c.Sent += int64(len(send))
	if werr != nil {
		return fmt.Errorf("task %d sending to task %d: %w", c.Rank, c.Rank^1<<j, werr)
	}
	if rerr != nil {
		return fmt.Errorf("task %d receiving from task %d: %w", c.Rank, c.Rank^1<<j, rerr)
	}
	return nil
}

// ExchangeStream trades total bytes with the partner across rank bit j in
// chunks of at most chunk bytes, both ways at once and pipelined: a
// goroutine packs chunk k (pack(off, buf) fills buf with the bytes from
// offset off) and sends it while the caller receives chunk k-1 and
// unpacks it (unpack(off, buf)). A chunk is unpacked only after it was
// packed, so unpack may overwrite what pack read.
func (c *Comm) ExchangeStream(j, total, chunk int, pack, unpack func(off int, buf []byte)) error {
	p := c.peers[j]
	packed := make(chan int, total/chunk+1)
	errc := make(chan error, 1)
	go func() {
		defer close(packed)
		bufs := [2][]byte{make([]byte, chunk), make([]byte, chunk)}
		for k, off := 0, 0; off < total; k, off = k+1, off+chunk {
			b := bufs[k%2][:min(chunk, total-off)]
			pack(off, b)
			packed <- off
			if _, err := p.w.Write(b); err != nil {
				errc <- err
				return
			}
		}
		errc <- p.w.Flush()
	}()
	rbuf := make([]byte, chunk)
	var rerr error
	for off := 0; off < total && rerr == nil; off += chunk {
		b := rbuf[:min(chunk, total-off)]
		if _, rerr = io.ReadFull(p.r, b); rerr != nil {
			break
		}
		if _, ok := <-packed; !ok {
			break // the sender failed; its error follows
		}
		unpack(off, b)
	}
	werr := <-errc
	c.Sent += int64(total)
	if werr != nil {
		return fmt.Errorf("task %d sending to task %d: %w", c.Rank, c.Rank^1<<j, werr)
	}
	if rerr != nil {
		return fmt.Errorf("task %d receiving from task %d: %w", c.Rank, c.Rank^1<<j, rerr)
	}
	return nil
}

// AllReduce replaces vals with their sums over all tasks. Every task ends
// with bit-identical sums: at each step the two partners add the same two
// numbers (in either order, which addition does not notice), so random
// choices made from them agree everywhere.
func (c *Comm) AllReduce(vals []float64) error {
	buf := make([]byte, 8*len(vals))
	got := make([]byte, len(buf))
	for j := range c.peers {
		for i, v := range vals {
			binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(v))
		}
		if err := c.Exchange(j, buf, got); err != nil {
			return err
		}
		for i := range vals {
			vals[i] += math.Float64frombits(binary.LittleEndian.Uint64(got[8*i:]))
		}
	}
	return nil
}

// Gather collects every task's blob at task 0, indexed by rank; other
// tasks get nil. Blobs travel up the hypercube, each step halving the
// tasks that hold some.
func (c *Comm) Gather(blob []byte) ([][]byte, error) {
	held := map[int][]byte{c.Rank: blob}
	for j := range c.peers {
		if c.Rank&(1<<j-1) != 0 {
			break // already handed on
		}
		p := c.peers[j]
		if c.Rank&(1<<j) != 0 {
			if err := writeBlobs(p.w, held); err != nil {
				return nil, fmt.Errorf("task %d sending results to task %d: %w", c.Rank, c.Rank^1<<j, err)
			}
			c.Sent += int64(blobsSize(held))
			return nil, nil
		}
		if err := readBlobs(p.r, held); err != nil {
			return nil, fmt.Errorf("task %d receiving results from task %d: %w", c.Rank, c.Rank^1<<j, err)
		}
	}
	if c.Rank != 0 {
		return nil, nil
	}
	out := make([][]byte, c.Size)
	for r, b := range held {
		out[r] = b
	}
	return out, nil
}

// Broadcast sends task 0's blob to every task and returns it.
func (c *Comm) Broadcast(blob []byte) ([]byte, error) {
	for j := len(c.peers) - 1; j >= 0; j-- {
		if c.Rank&(1<<j-1) != 0 {
			continue
		}
		p := c.peers[j]
		if c.Rank&(1<<j) == 0 {
			if err := writeBlobs(p.w, map[int][]byte{0: blob}); err != nil {
				return nil, err
			}
			continue
		}
		got := map[int][]byte{}
		if err := readBlobs(p.r, got); err != nil {
			return nil, err
		}
		blob = got[0]
	}
	return blob, nil
}

// Barrier returns once every task has called it.
func (c *Comm) Barrier() error { return c.AllReduce([]float64{0}) }

func blobsSize(m map[int][]byte) int {
	n := 0
	for _, b := range m {
		n += 12 + len(b)
	}
	return n
}

func writeBlobs(w *bufio.Writer, m map[int][]byte) error {
	var h [12]byte
	binary.LittleEndian.PutUint32(h[:], uint32(len(m)))
	if _, err := w.Write(h[:4]); err != nil {
		return err
	}
	for r, b := range m {
		binary.LittleEndian.PutUint32(h[:], uint32(r))
		binary.LittleEndian.PutUint64(h[4:], uint64(len(b)))
		if _, err := w.Write(h[:]); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return w.Flush()
}

// maxBlob bounds one gathered blob: the counts of a run (at most 2^20
// outcomes of a few bytes each) stay far below it.
const maxBlob = 1 << 30

func readBlobs(r *bufio.Reader, m map[int][]byte) error {
	var h [12]byte
	if _, err := io.ReadFull(r, h[:4]); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint32(h[:])
	for range n {
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return err
		}
		rank := int(binary.LittleEndian.Uint32(h[:]))
		size := binary.LittleEndian.Uint64(h[4:])
		if size > maxBlob {
			return fmt.Errorf("a partner sent a blob of %d bytes", size)
		}
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			return err
		}
		m[rank] = b
	}
	return nil
}

// LocalComms connects size tasks within one process over loopback TCP,
// for tests and benchmarks of the distributed engine.
func LocalComms(size int) ([]*Comm, error) {
	lns := make([]net.Listener, size)
	addrs := make([]string, size)
	for r := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		lns[r], addrs[r] = ln, ln.Addr().String()
	}
	comms := make([]*Comm, size)
	errs := make([]error, size)
	done := make(chan int)
	for r := range lns {
		go func() {
			comms[r], errs[r] = Connect(r, size, lns[r], addrs, []byte("local"))
			done <- r
		}()
	}
	for range size {
		<-done
	}
	if err := errors.Join(errs...); err != nil {
		for _, c := range comms {
			if c != nil {
				c.Close()
			}
		}
		return nil, err
	}
	return comms, nil
}
