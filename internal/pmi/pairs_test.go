package pmi

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

func TestPairsRoundTrip(t *testing.T) {
	kv := map[string]string{"": "empty key", "a": "", "semi;colon": "x;y\nz"}
	for i := range 200 {
		kv[fmt.Sprintf("card-%03d", i)] = strings.Repeat("v", i*10)
	}
	chunks, err := EncodePairs(kv, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) < 2 {
		t.Fatalf("%d chunks; want several of at most 4096 bytes", len(chunks))
	}
	got := map[string]string{}
	for _, c := range chunks {
		if len(c) > 4096 {
			t.Errorf("a chunk of %d bytes; max 4096", len(c))
		}
		if err := DecodePairs(c, got); err != nil {
			t.Fatal(err)
		}
	}
	if !maps.Equal(got, kv) {
		t.Errorf("round trip lost pairs: %d of %d", len(got), len(kv))
	}
	if _, err := EncodePairs(map[string]string{"k": strings.Repeat("v", 100)}, 50); err == nil {
		t.Error("a pair larger than a chunk was encoded")
	}
	for _, bad := range [][]byte{{0, 0, 0}, {0, 0, 0, 5, 'a'}, {0, 0, 0, 1, 'a', 0, 0, 0, 9}} {
		if err := DecodePairs(bad, map[string]string{}); err == nil {
			t.Errorf("DecodePairs(%v) accepted a truncated chunk", bad)
		}
	}
}
