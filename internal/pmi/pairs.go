package pmi

import (
	"encoding/binary"
	"errors"
	"sort"
)

// EncodePairs writes a fence's key-value pairs as chunks of at most max
// bytes each (sorted by key, so the encoding is deterministic), for a
// transport whose messages are bounded: a node sends its puts to srun, and
// srun the step's whole space back, as a run of such chunks. Each pair is
// its key's length and key, then its value's length and value (lengths as
// 4-byte big-endian integers). A pair longer than max is an error; the
// server's limits keep pairs far below the 64 KiB of step I/O frames.
func EncodePairs(kv map[string]string, max int) ([][]byte, error) {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var chunks [][]byte
	var cur []byte
	for _, k := range keys {
		v := kv[k]
		n := 8 + len(k) + len(v)
		if n > max {
			return nil, errors.New("pmi: a key-value pair larger than a chunk")
		}
		if len(cur)+n > max {
			chunks = append(chunks, cur)
			cur = nil
		}
		cur = binary.BigEndian.AppendUint32(cur, uint32(len(k)))
		cur = append(cur, k...)
		cur = binary.BigEndian.AppendUint32(cur, uint32(len(v)))
		cur = append(cur, v...)
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, nil
}

// DecodePairs adds the pairs of one chunk to kv.
func DecodePairs(chunk []byte, kv map[string]string) error {
	for len(chunk) > 0 {
		var k, v string
		var ok bool
		if k, chunk, ok = field(chunk); !ok {
			return errors.New("pmi: a truncated key-value chunk")
		}
		if v, chunk, ok = field(chunk); !ok {
			return errors.New("pmi: a truncated key-value chunk")
		}
		kv[k] = v
	}
	return nil
}

func field(b []byte) (string, []byte, bool) {
	if len(b) < 4 {
		return "", nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return "", nil, false
	}
	return string(b[4 : 4+n]), b[4+n:], true
}
